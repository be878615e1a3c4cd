import { calendarWindow } from '../duration.js'
import type { StoreCheck } from '../store/store.js'
import type { AlgorithmImpl } from './algorithm.js'

/** Start and end (epoch ms) of the fixed or calendar window containing `now`. */
export function fixedWindowBounds(check: StoreCheck, now: number): { start: number; end: number } {
  if (check.calendar) return calendarWindow(check.calendar, now, check.timeZone)
  const start = Math.floor(now / check.windowMs) * check.windowMs
  return { start, end: start + check.windowMs }
}

/** Fixed window: one counter per epoch-aligned window (or UTC day/month); resets at the window end. */
export const fixedWindow: AlgorithmImpl = {
  inspect(entry, check, now, out) {
    let start: number
    let end: number
    // Rolling windows are computed in place: no bounds object on the hot path.
    if (check.calendar) ({ start, end } = calendarWindow(check.calendar, now, check.timeZone))
    else {
      start = Math.floor(now / check.windowMs) * check.windowMs
      end = start + check.windowMs
    }
    const used = entry.start === start ? entry.count : 0
    out.window = start
    out.remaining = Math.max(0, check.limit - used)
    out.resetAt = used > 0 ? end : now
    if (check.cost > check.limit) {
      out.allowed = false
      out.retryAfterMs = -1
      return
    }
    out.allowed = check.cost === 0 || used + check.cost <= check.limit
    out.retryAfterMs = out.allowed ? 0 : Math.max(1, end - now)
  },
  charge(entry, check, now, out) {
    // `inspect` just found the window for this same `now`.
    const start = out.window
    const end = check.calendar
      ? calendarWindow(check.calendar, now, check.timeZone).end
      : start + check.windowMs
    if (entry.start !== start) {
      entry.start = start
      entry.count = 0
    }
    entry.count += check.cost
    out.remaining = Math.max(0, out.remaining - check.cost)
    out.resetAt = end
  },
  adjust(entry, _check, window, delta) {
    // A window that has already rolled over is not touched: its correction would change nothing real.
    if (entry.start !== window) return
    entry.count = Math.max(0, entry.count + delta)
  },
}
