import type { AlgorithmImpl } from './algorithm.js'
import { EPSILON, waitUntil } from './algorithm.js'

/**
 * Token bucket as GCRA: one number per key, the theoretical arrival time (TAT). Each unit costs
 * `windowMs / limit` ms of TAT; a cost is admitted while TAT stays within `burst` units of now.
 */
export const tokenBucket: AlgorithmImpl = {
  inspect(entry, check, now, out) {
    const interval = check.windowMs / check.limit
    const tat = Math.max(entry.tat, now)
    const used = (tat - now) / interval
    out.window = 0
    out.remaining = Math.max(0, Math.floor(check.burst - used + EPSILON))
    out.resetAt = tat
    if (check.cost > check.burst) {
      out.allowed = false
      out.retryAfterMs = -1
      return
    }
    const allowAt = tat + (check.cost - check.burst) * interval
    out.allowed = check.cost === 0 || allowAt <= now + EPSILON
    out.retryAfterMs = out.allowed ? 0 : waitUntil(allowAt, now)
  },
  charge(entry, check, now, out) {
    const tat = Math.max(entry.tat, now)
    entry.tat = tat + (check.cost * check.windowMs) / check.limit
    out.remaining = Math.max(0, out.remaining - check.cost)
    out.resetAt = entry.tat
  },
  adjust(entry, check, _window, delta, now) {
    const tat = Math.max(entry.tat, now)
    // A refund can give back at most what is outstanding: TAT never moves before now.
    entry.tat = Math.max(now, tat + (delta * check.windowMs) / check.limit)
  },
}
