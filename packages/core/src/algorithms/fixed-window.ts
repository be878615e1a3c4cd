import { calendarWindow } from '../duration.js'
import type { StoreCheck } from '../store/store.js'
import type { AlgorithmImpl } from './algorithm.js'
import { Field } from './algorithm.js'

/** Start and end (epoch ms) of the fixed or calendar window containing `now`. */
export function fixedWindowBounds(check: StoreCheck, now: number): { start: number; end: number } {
  if (check.calendar) return calendarWindow(check.calendar, now, check.timeZone)
  const start = Math.floor(now / check.windowMs) * check.windowMs
  return { start, end: start + check.windowMs }
}

/** Fixed window: one counter per epoch-aligned window (or UTC day/month); resets at the window end. */
export const fixedWindow: AlgorithmImpl = {
  inspect(entry, check, now, out, at) {
    let start: number
    let end: number
    // Rolling windows are computed in place: no bounds object on the hot path.
    if (check.calendar) ({ start, end } = calendarWindow(check.calendar, now, check.timeZone))
    else {
      start = Math.floor(now / check.windowMs) * check.windowMs
      end = start + check.windowMs
    }
    const used = entry.start === start ? entry.count : 0
    out[at + Field.Window] = start
    out[at + Field.Remaining] = Math.max(0, check.limit - used)
    out[at + Field.ResetAt] = used > 0 ? end : now
    if (check.cost > check.limit) {
      out[at + Field.Allowed] = 0
      out[at + Field.RetryAfterMs] = -1
      return
    }
    const allowed = check.cost === 0 || used + check.cost <= check.limit
    out[at + Field.Allowed] = allowed ? 1 : 0
    out[at + Field.RetryAfterMs] = allowed ? 0 : Math.max(1, end - now)
  },
  charge(entry, check, now, out, at) {
    // `inspect` just found the window for this same `now`.
    const start = out[at + Field.Window]
    const end = check.calendar
      ? calendarWindow(check.calendar, now, check.timeZone).end
      : start + check.windowMs
    if (entry.start !== start) {
      entry.start = start
      entry.count = 0
    }
    entry.count += check.cost
    out[at + Field.Remaining] = Math.max(0, out[at + Field.Remaining] - check.cost)
    out[at + Field.ResetAt] = end
  },
  adjust(entry, _check, window, delta) {
    // A window that has already rolled over is not touched: its correction would change nothing real.
    if (entry.start !== window) return
    entry.count = Math.max(0, entry.count + delta)
  },
}
