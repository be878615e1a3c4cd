import type { AlgorithmImpl } from './algorithm.js'
import { EPSILON, Field, waitUntil } from './algorithm.js'

/**
 * Token bucket as GCRA: one number per key, the theoretical arrival time (TAT). Each unit costs
 * `windowMs / limit` ms of TAT; a cost is admitted while TAT stays within `burst` units of now.
 */
export const tokenBucket: AlgorithmImpl = {
  inspect(entry, check, now, out, at) {
    const interval = check.windowMs / check.limit
    const tat = Math.max(entry.tat, now)
    const used = (tat - now) / interval
    out[at + Field.Window] = 0
    out[at + Field.Remaining] = Math.max(0, Math.floor(check.burst - used + EPSILON))
    out[at + Field.ResetAt] = tat
    if (check.cost > check.burst) {
      out[at + Field.Allowed] = 0
      out[at + Field.RetryAfterMs] = -1
      return
    }
    const allowAt = tat + (check.cost - check.burst) * interval
    const allowed = check.cost === 0 || allowAt <= now + EPSILON
    out[at + Field.Allowed] = allowed ? 1 : 0
    out[at + Field.RetryAfterMs] = allowed ? 0 : waitUntil(allowAt, now)
  },
  charge(entry, check, now, out, at) {
    const tat = Math.max(entry.tat, now)
    entry.tat = tat + (check.cost * check.windowMs) / check.limit
    out[at + Field.Remaining] = Math.max(0, out[at + Field.Remaining] - check.cost)
    out[at + Field.ResetAt] = entry.tat
  },
  adjust(entry, check, _window, delta, now) {
    const tat = Math.max(entry.tat, now)
    // A refund can give back at most what is outstanding: TAT never moves before now.
    entry.tat = Math.max(now, tat + (delta * check.windowMs) / check.limit)
  },
}
