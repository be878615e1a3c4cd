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
/** Whether requests with this prototype read `req.llmLimit` from SLOTS; found once per prototype. */
const SERVED = new WeakMap<object, boolean>()

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
  const proto = Object.getPrototypeOf(req) as object | null
  let served = proto === null ? false : SERVED.get(proto)
  if (served === undefined && proto !== null) {
    served = serve(expressBase(proto))
    SERVED.set(proto, served)
  }
  if (slot !== undefined && served) slot.decision = decision
  else (req as { llmLimit?: Decision }).llmLimit = decision
}

/**
 * Express's own request prototype (`express.request`, the one every app and sub-app inherits
 * from, and which Express documents as the place to extend requests), or undefined outside Express.
 */
function expressBase(proto: object): object | undefined {
  let current: object | null = proto
  while (current !== null) {
    const parent = Object.getPrototypeOf(current) as object | null
    if (parent === IncomingMessage.prototype) return current
    current = parent
  }
  return undefined
}

/** Installs on Express's request prototype an accessor that reads the decision from SLOTS. */
function serve(base: object | undefined): boolean {
  if (base === undefined) return false
  const own = Object.getOwnPropertyDescriptor(base, 'llmLimit')
  if (own !== undefined) return own.get === readDecision
  if (!Object.isExtensible(base)) return false
  Object.defineProperty(base, 'llmLimit', {
    configurable: true,
    enumerable: false,
    get: readDecision,
    set(this: object, value: Decision | undefined) {
      const slot = SLOTS.get(this)
      if (slot !== undefined) slot.decision = value
      else Object.defineProperty(this, 'llmLimit', { value, writable: true, configurable: true })
    },
  })
  return true
}

function readDecision(this: object): Decision | undefined {
  return SLOTS.get(this)?.decision
}
