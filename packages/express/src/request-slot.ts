import type { Decision } from '@llm-limit/core'

const PROBE = Symbol('llm-limit.probe')
const COUNTED = Symbol('llm-limit.counted')

interface Slotted {
  [PROBE]?: undefined
  [COUNTED]?: object | Set<object>
  llmLimit?: Decision
}

/**
 * Gives Express's requests and responses a hidden class V8 can reuse. Express swaps each one's
 * prototype (`Object.setPrototypeOf`), and V8 keeps no transitions from an object whose prototype
 * was swapped: every property added after it (Express and Node add a dozen) builds a hidden class
 * for that one request, so every property read on `req` and `res`, in Express, Node and each
 * middleware, misses V8's caches. Deleting the last property of such an object puts it in
 * dictionary mode, whose hidden class all of them share; on an object with a reusable hidden class
 * the same delete undoes the add, and nothing changes.
 */
export function shareHiddenClass(object: object): void {
  const slotted = object as Slotted
  if (!Object.isExtensible(slotted)) return
  slotted[PROBE] = undefined
  delete slotted[PROBE]
}

/**
 * Marks `req` as counted by `middleware` and says whether it already was (one limiter mounted
 * twice counts a request once).
 */
export function countedBefore(req: object, middleware: object): boolean {
  const slotted = req as Slotted
  const counted = slotted[COUNTED]
  if (counted === undefined) {
    slotted[COUNTED] = middleware
    return false
  }
  if (counted === middleware) return true
  if (counted instanceof Set) {
    if (counted.has(middleware)) return true
    counted.add(middleware)
  } else slotted[COUNTED] = new Set([counted, middleware])
  return false
}

/** Makes the decision readable as `req.llmLimit`. */
export function exposeDecision(req: object, decision: Decision): void {
  ;(req as Slotted).llmLimit = decision
}
