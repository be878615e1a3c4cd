import { type StoreAlgorithm, type StoreCheck, timeZoneName } from '@llm-limit/core'

/** A check as it crosses to the object: the store's fields without its `slot` scratch. */
export interface WireCheck {
  key: string
  group: string
  rule?: string
  algorithm: StoreAlgorithm
  limit: number
  burst: number
  windowMs: number
  calendar?: StoreCheck['calendar']
  timeZone?: string
  cost: number
}

/** The body of one call to a limit object. */
export type LimitCall =
  | { op: 'consume'; requestId: string; checks: WireCheck[] }
  | { op: 'adjust'; requestId: string; adjustments: { check: WireCheck; window: number; delta: number }[] }

/** The plain fields of a check, so a memory store's slot never crosses to the object. */
export function wireCheck(check: StoreCheck): WireCheck {
  const { key, group, rule, algorithm, limit, burst, windowMs, calendar, timeZone, cost } = check
  return { key, group, rule, algorithm, limit, burst, windowMs, calendar, timeZone, cost }
}

const ALGORITHM_NAMES = new Set(['token-bucket', 'sliding-window', 'fixed-window', 'concurrency'])

/** True when `value` is a check the object can count: every number finite, a known algorithm and time zone. */
export function isWireCheck(value: unknown): value is WireCheck {
  if (typeof value !== 'object' || value === null) return false
  const check = value as Record<string, unknown>
  return (
    typeof check.key === 'string' &&
    typeof check.group === 'string' &&
    (check.rule === undefined || typeof check.rule === 'string') &&
    ALGORITHM_NAMES.has(check.algorithm as string) &&
    Number.isFinite(check.limit) &&
    Number.isFinite(check.burst) &&
    Number.isFinite(check.windowMs) &&
    Number.isFinite(check.cost) &&
    (check.calendar === undefined ||
      check.calendar === 'day' ||
      check.calendar === 'week' ||
      check.calendar === 'month') &&
    // A zone only on a calendar period, and one Intl knows (the object computes its windows with it).
    (check.timeZone === undefined ||
      (check.calendar !== undefined && timeZoneName(check.timeZone) !== undefined))
  )
}
