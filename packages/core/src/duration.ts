import { configError, shown } from './errors.js'
import { zonedCalendarWindow } from './time-zone.js'

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/** A parsed `per`: a rolling window in ms, or a calendar period. */
export type Window = { kind: 'rolling'; ms: number } | { kind: 'calendar'; period: CalendarPeriod }

/** A calendar period, in UTC or a rule's time zone: days start at midnight, weeks on Monday, months on the 1st. */
export type CalendarPeriod = 'day' | 'week' | 'month'

/** Parses `'250ms'`, `'1s'`, `'1m'`, `'1h'`, `'30d'`, `'day'` or `'month'`; `option` names the setting in errors. */
export function parseWindow(value: unknown, option: string): Window {
  if (value === 'day' || value === 'week' || value === 'month') return { kind: 'calendar', period: value }
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return { kind: 'rolling', ms: value }
  const match = typeof value === 'string' ? PATTERN.exec(value.trim()) : null
  if (!match) {
    configError(
      `Expected \`${option}\` to be a duration like '250ms', '1s', '1m', '1h', '30d' or a calendar period 'day', 'week' or 'month', got ${shown(value)}.`,
    )
  }
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS])
  if (ms < 1 || ms > 366 * UNIT_MS.d) {
    configError(`Expected \`${option}\` to be between 1ms and 366d, got ${shown(value)}.`)
  }
  return { kind: 'rolling', ms }
}

/** The last window computed per period: a check within it reuses it, so the hot path allocates nothing. */
const LAST: Record<CalendarPeriod, { start: number; end: number }> = {
  day: { start: 0, end: 0 },
  week: { start: 0, end: 0 },
  month: { start: 0, end: 0 },
}

/**
 * Start and end (epoch ms) of the calendar day, week (from Monday 00:00) or month containing `now`, in UTC or,
 * given an IANA `timeZone`, in that zone's local time (a day across a clock change lasts 23 or 25 hours).
 */
export function calendarWindow(
  period: CalendarPeriod,
  now: number,
  timeZone?: string,
): { readonly start: number; readonly end: number } {
  if (timeZone !== undefined) return zonedCalendarWindow(period, now, timeZone)
  const last = LAST[period]
  if (now >= last.start && now < last.end) return last
  let start: number
  let end: number
  if (period === 'day') {
    start = Math.floor(now / UNIT_MS.d) * UNIT_MS.d
    end = start + UNIT_MS.d
  } else if (period === 'week') {
    const day = Math.floor(now / UNIT_MS.d)
    // 1970-01-01 was a Thursday: (day + 3) mod 7 is the days since Monday.
    start = (day - ((((day + 3) % 7) + 7) % 7)) * UNIT_MS.d
    end = start + 7 * UNIT_MS.d
  } else {
    const date = new Date(now)
    start = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)
    end = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1)
  }
  const window = { start, end }
  LAST[period] = window
  return window
}
