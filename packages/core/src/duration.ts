import { configError, shown } from './errors.js'

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/** A parsed `per`: a rolling window in ms, or a UTC calendar period. */
export type Window = { kind: 'rolling'; ms: number } | { kind: 'calendar'; period: 'day' | 'month' }

/** Parses `'250ms'`, `'1s'`, `'1m'`, `'1h'`, `'30d'`, `'day'` or `'month'`; `option` names the setting in errors. */
export function parseWindow(value: unknown, option: string): Window {
  if (value === 'day' || value === 'month') return { kind: 'calendar', period: value }
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return { kind: 'rolling', ms: value }
  const match = typeof value === 'string' ? PATTERN.exec(value.trim()) : null
  if (!match) {
    configError(
      `Expected \`${option}\` to be a duration like '250ms', '1s', '1m', '1h', '30d' or a calendar period 'day' or 'month', got ${shown(value)}.`,
    )
  }
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS])
  if (ms < 1 || ms > 366 * UNIT_MS.d) {
    configError(`Expected \`${option}\` to be between 1ms and 366d, got ${shown(value)}.`)
  }
  return { kind: 'rolling', ms }
}

/** Start and end (epoch ms) of the UTC calendar day or month containing `now`. */
export function calendarWindow(period: 'day' | 'month', now: number): { start: number; end: number } {
  const date = new Date(now)
  if (period === 'day') {
    const start = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate())
    return { start, end: start + UNIT_MS.d }
  }
  const start = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)
  return { start, end: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1) }
}
