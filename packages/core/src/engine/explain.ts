import type { Reason } from '../types.js'
import type { Fit } from './affordable.js'
import type { CompiledRule } from './compile-rule.js'

/** The reason a denial by a rule of this measure reports. */
export function reasonOf(rule: CompiledRule): Reason {
  switch (rule.measure) {
    case 'requests':
      return 'requests'
    case 'costUsd':
      return 'cost'
    case 'concurrent':
      return 'concurrent'
    default:
      return 'tokens'
  }
}

/** A rule's amount in user units: dollars for cost rules, whole units otherwise. */
export function formatAmount(rule: CompiledRule, units: number): string {
  if (rule.measure === 'costUsd') return `$${(units / rule.scale).toFixed(6).replace(/\.?0+$/, '')}`
  const noun =
    rule.measure === 'requests' ? 'request' : rule.measure === 'concurrent' ? 'concurrent call' : 'token'
  return `${units} ${units === 1 ? noun : `${noun}s`}`
}

/** The rule's window in words: "per 1m", "per day (UTC)", "per day (Asia/Kolkata)", or "at once". */
export function describeWindow(rule: CompiledRule): string {
  if (rule.algorithm === 'concurrency') return 'at once'
  if (rule.calendar) return `per ${rule.calendar} (${rule.timeZone ?? 'UTC'})`
  return `per ${formatMs(rule.windowMs)}`
}

/** Ms as a short duration: 250ms, 1.5s, 1m, 2h, 1d; a long one in one unit, rounded up: 24.4h, not 87740.86s. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`
  const units = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const
  for (const [unit, size] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(3))}s`
  // Days only from two on: 24.4h says more than 1.1d.
  const [unit, size] = ms >= 2 * units[0][1] ? units[0] : ms >= units[1][1] ? units[1] : units[2]
  return `${Math.ceil((ms / size) * 10) / 10}${unit}`
}

/**
 * A wait as a person reads it: `250ms` and `1.578s` under a minute, else its two largest units,
 * `2m 5s`, `21h 55m`, `3d 4h` (whole seconds rounded up first, so it never reads `0m`).
 */
export function formatWait(ms: number): string {
  if (ms < 60_000) return formatMs(Math.ceil(ms))
  const seconds = Math.ceil(ms / 1000)
  const units = [
    [Math.floor(seconds / 86_400), 'd'],
    [Math.floor(seconds / 3600) % 24, 'h'],
    [Math.floor(seconds / 60) % 60, 'm'],
    [seconds % 60, 's'],
  ] as const
  const first = units.findIndex(([value]) => value > 0)
  const [value, unit] = units[first]
  const [next, nextUnit] = units[first + 1]
  return next > 0 ? `${value}${unit} ${next}${nextUnit}` : `${value}${unit}`
}

/**
 * The message of a denial by `rule`: names the rule, what was asked and when to come back, and, for
 * a denial by output budgets (`fit`), the output cap that fits now or that none does.
 */
export function denialMessage(
  rule: CompiledRule,
  cost: number,
  remaining: number,
  retryAfterMs: number,
  fit?: Fit,
): string {
  const limit = `${formatAmount(rule, rule.limit)} ${describeWindow(rule)}`
  const smaller =
    fit === undefined
      ? ''
      : fit.maxTokens > 0
        ? ` A retry with ${fit.param} at most ${fit.maxTokens} fits now.`
        : ` Not even ${fit.param} 1 fits now.`
  if (retryAfterMs < 0) {
    return `Request too large for rule '${rule.name}': it needs ${formatAmount(rule, cost)} but the rule allows at most ${limit}${rule.burst !== rule.limit ? ` (burst ${formatAmount(rule, rule.burst)})` : ''}. Reduce the prompt or max_tokens; the same request will never fit.${smaller}`
  }
  if (rule.calendar) {
    return `${rule.measure === 'costUsd' ? 'Budget' : 'Quota'} of rule '${rule.name}' is spent: limit ${limit}, ${formatAmount(rule, remaining)} left, ${formatAmount(rule, cost)} requested. It resets in ${formatWait(retryAfterMs)}.${smaller}`
  }
  return `Rate limit reached for rule '${rule.name}': limit ${limit}, ${formatAmount(rule, remaining)} left, ${formatAmount(rule, cost)} requested. Retry in ${formatWait(retryAfterMs)}.${smaller}`
}
