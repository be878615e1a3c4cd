/** Where a request object remembers the middlewares that counted it; shared across duplicate installs. */
const COUNTED = Symbol.for('llm-limit.counted')

type Holder = { [COUNTED]?: object | Set<object> }

/**
 * Marks a per-request object (Express `req`, Koa `ctx`, Hono `c`) as counted by `middleware` and
 * says whether it already was, so one limiter mounted twice (globally and on a route) counts a
 * request once. The common case, one mount, allocates nothing.
 */
export function alreadyCounted(request: object, middleware: object): boolean {
  const holder = request as Holder
  const seen = holder[COUNTED]
  if (seen === undefined) {
    holder[COUNTED] = middleware
    return false
  }
  if (seen === middleware) return true
  if (seen instanceof Set) {
    if (seen.has(middleware)) return true
    seen.add(middleware)
  } else holder[COUNTED] = new Set([seen, middleware])
  return false
}
