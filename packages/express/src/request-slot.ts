import { IncomingMessage } from 'node:http'
import type { Decision } from '@llm-limit/core'

/** What llmLimit keeps per request: the decision handlers read, and which middlewares counted it. */
interface Slot {
  decision: Decision | undefined
  counted: object | Set<object>
}

/**
 * Kept off the request object on purpose: Express swaps every request's prototype, and adding an
 * own property to such an object costs several microseconds — more than the whole decision.
 */
const SLOTS = new WeakMap<object, Slot>()
/** Prototypes already inspected, and of those, the ones that serve `req.llmLimit` from SLOTS. */
const INSPECTED = new WeakSet<object>()
const SERVED = new WeakSet<object>()

/**
 * Marks `req` as counted by `middleware` and says whether it already was (one limiter mounted
 * twice counts a request once).
 */
export function countedBefore(req: object, middleware: object): boolean {
  const slot = SLOTS.get(req)
  if (slot === undefined) {
    SLOTS.set(req, { decision: undefined, counted: middleware })
    return false
  }
  const counted = slot.counted
  if (counted === middleware) return true
  if (counted instanceof Set) {
    if (counted.has(middleware)) return true
    counted.add(middleware)
  } else slot.counted = new Set([counted, middleware])
  return false
}

/** Makes the decision readable as `req.llmLimit`. */
export function exposeDecision(req: object, decision: Decision): void {
  const slot = SLOTS.get(req)
  const base = expressBase(req)
  if (slot !== undefined && base !== undefined && serves(base)) slot.decision = decision
  else (req as { llmLimit?: Decision }).llmLimit = decision
}

/**
 * Express's own request prototype (`express.request`, the one every app and sub-app inherits
 * from, and which Express documents as the place to extend requests), or undefined outside Express.
 */
function expressBase(req: object): object | undefined {
  let proto = Object.getPrototypeOf(req) as object | null
  while (proto !== null) {
    const parent = Object.getPrototypeOf(proto) as object | null
    if (parent === IncomingMessage.prototype) return proto
    proto = parent
  }
  return undefined
}

/** Installs, once per prototype, an accessor that reads the decision from SLOTS. */
function serves(base: object): boolean {
  if (!INSPECTED.has(base)) {
    INSPECTED.add(base)
    if (Object.isExtensible(base) && !Object.hasOwn(base, 'llmLimit')) {
      Object.defineProperty(base, 'llmLimit', {
        configurable: true,
        enumerable: false,
        get(this: object) {
          return SLOTS.get(this)?.decision
        },
        set(this: object, value: Decision | undefined) {
          const slot = SLOTS.get(this)
          if (slot !== undefined) slot.decision = value
          else Object.defineProperty(this, 'llmLimit', { value, writable: true, configurable: true })
        },
      })
      SERVED.add(base)
    }
  }
  return SERVED.has(base)
}
