import type { CalendarPeriod } from './duration.js'

const DAY_MS = 86_400_000
/** Zones in use are few (one per rule); the caches are bounded anyway, since a store may be handed any name. */
const MAX_ZONES = 1000

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(zone: string): Intl.DateTimeFormat {
  let format = formatters.get(zone)
  if (format === undefined) {
    if (formatters.size >= MAX_ZONES) formatters.clear()
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
    formatters.set(zone, format)
  }
  return format
}

const names = new Map<string, string | undefined>()

/** Intl's own name for a time zone it knows (`'etc/utc'` gives `'UTC'`), or undefined for one it does not. */
export function timeZoneName(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined
  // Stores validate the zone of every check they are sent: a lookup, not a new formatter each time.
  if (names.has(value)) return names.get(value)
  let name: string | undefined
  try {
    name = new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone
  } catch {
    name = undefined
  }
  if (names.size >= MAX_ZONES) names.clear()
  names.set(value, name)
  return name
}

/** The local wall-clock time at `at` in `zone`, written as if it were UTC (epoch ms). */
function wallClock(zone: string, at: number): number {
  let year = 0
  let month = 0
  let day = 0
  let hour = 0
  let minute = 0
  let second = 0
  for (const part of formatter(zone).formatToParts(at)) {
    const value = Number(part.value)
    if (part.type === 'year') year = value
    else if (part.type === 'month') month = value
    else if (part.type === 'day') day = value
    else if (part.type === 'hour') hour = value
    else if (part.type === 'minute') minute = value
    else if (part.type === 'second') second = value
  }
  // Offsets are whole seconds, so the milliseconds carry over unchanged.
  return Date.UTC(year, month - 1, day, hour, minute, second) + (((at % 1000) + 1000) % 1000)
}

/**
 * The first instant (epoch ms) of local date `day` (days since 1970-01-01) in `zone`: local midnight, or, when
 * a clock change skips midnight, the instant the clocks jump past it. The offsets a day before and a day after
 * give the two candidates (equal on days without a change near midnight); the earlier one that already reads
 * `day` on the local clock wins, so a fall-back that repeats midnight starts the day at its first midnight.
 */
function dayStart(zone: string, day: number): number {
  const wall = day * DAY_MS
  const before = wall - (wallClock(zone, wall - DAY_MS) - (wall - DAY_MS))
  const after = wall - (wallClock(zone, wall + DAY_MS) - (wall + DAY_MS))
  const early = Math.min(before, after)
  return wallClock(zone, early) >= wall ? early : Math.max(before, after)
}

/** The local day, week (from Monday) or month containing `now` in `zone`, computed without a cache. */
export function zonedWindow(
  period: CalendarPeriod,
  now: number,
  zone: string,
): { start: number; end: number } {
  const local = Math.floor(wallClock(zone, now) / DAY_MS)
  let first: number
  let next: number
  if (period === 'day') {
    first = local
    next = local + 1
  } else if (period === 'week') {
    // 1970-01-01 was a Thursday: (day + 3) mod 7 is the days since Monday.
    first = local - ((((local + 3) % 7) + 7) % 7)
    next = first + 7
  } else {
    const date = new Date(local * DAY_MS)
    first = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1) / DAY_MS
    next = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1) / DAY_MS
  }
  const start = dayStart(zone, first)
  const end = dayStart(zone, next)
  // A clock set back across midnight reads the previous date for a while: that time belongs to the new period.
  if (now >= end) return zonedWindow(period, end, zone)
  return { start, end }
}

/** The last window computed per zone and period, so a check within it allocates nothing and formats nothing. */
const LAST = new Map<string, Record<CalendarPeriod, { start: number; end: number }>>()

/** Start and end (epoch ms) of the local calendar day, week or month containing `now` in `zone` (cached). */
export function zonedCalendarWindow(
  period: CalendarPeriod,
  now: number,
  zone: string,
): { readonly start: number; readonly end: number } {
  let last = LAST.get(zone)
  if (last === undefined) {
    if (LAST.size >= MAX_ZONES) LAST.clear()
    const empty = { start: 0, end: 0 }
    last = { day: empty, week: empty, month: empty }
    LAST.set(zone, last)
  }
  const window = last[period]
  if (now >= window.start && now < window.end) return window
  const computed = zonedWindow(period, now, zone)
  last[period] = computed
  return computed
}

/**
 * Bounds b0 < b1 < b2 < b3 (epoch ms) of the previous, current and next local periods around `now` in `zone`:
 * a store that counts on another clock (Redis TIME) picks the period holding its own time among them.
 */
export function zonedBoundaries(
  period: CalendarPeriod,
  now: number,
  zone: string,
): [number, number, number, number] {
  const { start, end } = zonedCalendarWindow(period, now, zone)
  return [zonedWindow(period, start - 1, zone).start, start, end, zonedWindow(period, end, zone).end]
}
