import { type CalendarPeriod, parseWindow, type Window } from '../duration.js'
import { configError, shown } from '../errors.js'
import type { StoreAlgorithm } from '../store/store.js'
import { timeZoneName } from '../time-zone.js'
import type { Algorithm, By, LimitFunction, Measure, Rule } from '../types.js'

const MEASURES: readonly Measure[] = [
  'requests',
  'tokens',
  'inputTokens',
  'outputTokens',
  'costUsd',
  'concurrent',
]
const ALGORITHMS: readonly Algorithm[] = ['token-bucket', 'sliding-window', 'fixed-window']
const BY_NAMES = ['ip', 'apiKey', 'user', 'global'] as const
const HOUR_MS = 3_600_000
/** Rules keep integer store units; dollars are stored as micro-USD. */
const MICRO = 1_000_000
/** Largest limit in store units that integer arithmetic in every store handles exactly. */
const MAX_UNITS = 2 ** 47

/** A rule validated and resolved into store units, built once at construction. */
export interface CompiledRule {
  /** Unique name. */
  readonly name: string
  /** What the rule measures. */
  readonly measure: Measure
  /** Limit in store units (micro-USD for cost rules). */
  readonly limit: number
  /** Token bucket size in store units; equals `limit` for other algorithms. */
  readonly burst: number
  /** Multiply user units by this to get store units (1, or 1e6 for dollars). */
  readonly scale: number
  /** How the store counts. */
  readonly algorithm: StoreAlgorithm
  /** Window length (0 for calendar rules; the lease TTL for concurrency). */
  readonly windowMs: number
  /** Calendar period, when the rule resets at midnight, on Monday or on the 1st. */
  readonly calendar: CalendarPeriod | undefined
  /** IANA time zone of the calendar period; undefined for UTC (and for rolling rules). */
  readonly timeZone: string | undefined
  /** The identity the rule counts against. */
  readonly by: By
  /** Only these models (exact names, or prefixes ending in '*'), or all when undefined. */
  readonly models: readonly string[] | undefined
  /** Separate counters per model. */
  readonly perModel: boolean
  /** Prefix of every store key of this rule. */
  readonly keyPrefix: string
  /** The limit function of a per-identity rule (its `limit` is then the fallback, or 1 as a placeholder). */
  readonly resolveLimit: LimitFunction | undefined
  /** The fallback limit in store units, for a rule with a limit function. */
  readonly fallback: number | undefined
  /** The token bucket's size follows the limit (no `burst` was set), so a resolved limit resizes it too. */
  readonly burstFollows: boolean
}

/** `rule` with another limit (store units), e.g. one resolved for an identity or set by the operator. */
export function withLimit(rule: CompiledRule, limit: number): CompiledRule {
  if (limit === rule.limit && rule.resolveLimit === undefined) return rule
  return { ...rule, limit, burst: rule.burstFollows ? limit : rule.burst, resolveLimit: undefined }
}

/** A limit in user units (a resolved function value, an override) as store units; throws a clear error when invalid. */
export function limitUnits(rule: CompiledRule, value: unknown, option: string): number {
  return toUnits(value, rule.scale, option)
}

/** Validates `rule` (named `option` in errors, e.g. `rules[2]`) and resolves it into store units. */
export function compileRule(rule: Rule, option: string, leaseTtlMs: number): CompiledRule {
  if (typeof rule !== 'object' || rule === null) configError(`Expected \`${option}\` to be a rule object.`)
  const measures = MEASURES.filter((measure) => rule[measure] !== undefined)
  if (measures.length !== 1) {
    configError(
      `Expected \`${option}\` to set exactly one of ${MEASURES.join(', ')}; it sets ${measures.length ? measures.join(' and ') : 'none'}. Split it into one rule per measure.`,
    )
  }
  const measure = measures[0]
  const value = rule[measure]
  const scale = measure === 'costUsd' ? MICRO : 1
  const resolveLimit = typeof value === 'function' ? value : undefined
  const fallback =
    rule.fallback === undefined ? undefined : toUnits(rule.fallback, scale, `${option}.fallback`)
  if (fallback !== undefined && resolveLimit === undefined) {
    configError(
      `\`${option}.fallback\` applies only when \`${option}.${measure}\` is a function; remove it or make the limit a function.`,
    )
  }
  const limit = resolveLimit ? (fallback ?? 1) : toUnits(value, scale, `${option}.${measure}`)
  const by = rule.by ?? 'ip'
  if (typeof by !== 'function' && !BY_NAMES.includes(by)) {
    configError(
      `Expected \`${option}.by\` to be one of ${BY_NAMES.join(', ')} or a function, got ${shown(by)}.`,
    )
  }
  const models = rule.models === undefined ? undefined : [...rule.models]
  if (models && (!Array.isArray(rule.models) || models.some((model) => typeof model !== 'string'))) {
    configError(`Expected \`${option}.models\` to be an array of model names.`)
  }
  if (models?.length === 0) {
    configError(
      `\`${option}.models\` is empty, so the rule would count no request; list models, or leave \`models\` out to count every model.`,
    )
  }
  const base = { measure, limit, scale, by, models, perModel: rule.perModel === true, resolveLimit, fallback }
  if (measure === 'concurrent') {
    if (
      rule.per !== undefined ||
      rule.algorithm !== undefined ||
      rule.burst !== undefined ||
      rule.timeZone !== undefined
    ) {
      configError(
        `\`${option}\` is a concurrency rule; remove \`per\`, \`algorithm\`, \`burst\` and \`timeZone\` (leases have no window).`,
      )
    }
    const name = ruleName(rule, option, `${describeBy(by)}-concurrent`)
    return {
      ...base,
      name,
      burst: limit,
      burstFollows: true,
      algorithm: 'concurrency',
      windowMs: leaseTtlMs,
      calendar: undefined,
      timeZone: undefined,
      keyPrefix: `${name}:`,
    }
  }
  const window = parseWindow(rule.per ?? '1m', `${option}.per`)
  const algorithm = rule.algorithm ?? defaultAlgorithm(measure, window)
  if (!ALGORITHMS.includes(algorithm)) {
    configError(
      `Expected \`${option}.algorithm\` to be one of ${ALGORITHMS.join(', ')}, got ${shown(algorithm)}.`,
    )
  }
  if (window.kind === 'calendar' && algorithm !== 'fixed-window') {
    configError(
      `\`${option}.per\` is the calendar period '${window.period}', which only 'fixed-window' can count; remove \`algorithm\` or use a rolling duration like '1d'.`,
    )
  }
  if (rule.burst !== undefined && algorithm !== 'token-bucket') {
    configError(
      `\`${option}.burst\` applies only to algorithm 'token-bucket'; remove it or set the algorithm.`,
    )
  }
  const burst = rule.burst === undefined ? limit : toUnits(rule.burst, scale, `${option}.burst`)
  const per = window.kind === 'calendar' ? window.period : (rule.per ?? '1m')
  const name = ruleName(rule, option, `${describeBy(by)}-${measure}-${per}`)
  return {
    ...base,
    name,
    burst,
    burstFollows: rule.burst === undefined,
    algorithm,
    windowMs: window.kind === 'rolling' ? window.ms : 0,
    calendar: window.kind === 'calendar' ? window.period : undefined,
    timeZone: compileTimeZone(rule, window, option),
    keyPrefix: `${name}:`,
  }
}

/** The zone of a calendar rule as given, undefined for UTC; a zone on a rolling rule or an unknown zone throws. */
function compileTimeZone(rule: Rule, window: Window, option: string): string | undefined {
  if (rule.timeZone === undefined) return undefined
  if (window.kind !== 'calendar') {
    configError(
      `\`${option}.timeZone\` applies only to calendar periods; set \`per\` to 'day', 'week' or 'month', or remove \`timeZone\` (a rolling window like ${shown(rule.per ?? '1m')} is the same in every zone).`,
    )
  }
  const zone = timeZoneName(rule.timeZone)
  if (zone === undefined) {
    configError(
      `Expected \`${option}.timeZone\` to be an IANA time zone like 'America/New_York' or 'Asia/Kolkata', got ${shown(rule.timeZone)}.`,
    )
  }
  // UTC by name counts exactly as no zone, on the fast path. Other names stay as given: Intl's own may be an old
  // alias ('Asia/Calcutta' for 'Asia/Kolkata' on Node 20), which is not what the operator wrote.
  return zone === 'UTC' || zone === 'Etc/UTC' ? undefined : rule.timeZone
}

/**
 * The algorithm a rule counts with when it names none. Budgets (tokens and dollars) are read as
 * windows ("$10 per hour": never more in any hour), so they get the sliding window, which never
 * admits more than the limit in any span of `per`; a token bucket would admit its burst on top of
 * what refilled (about 2× the limit within one period). Request rules keep the token bucket up to an
 * hour: it is the cheapest check, and smoothing is what a request rate is for.
 */
function defaultAlgorithm(measure: Measure, window: Window): Algorithm {
  if (window.kind === 'calendar') return 'fixed-window'
  return measure === 'requests' && window.ms <= HOUR_MS ? 'token-bucket' : 'sliding-window'
}

function toUnits(value: unknown, scale: number, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    configError(`Expected \`${option}\` to be a positive number, got ${shown(value)}.`)
  }
  const units = Math.round(value * scale)
  if (scale === 1 && !Number.isInteger(value))
    configError(`Expected \`${option}\` to be a whole number, got ${value}.`)
  if (units < 1 || units > MAX_UNITS) {
    configError(`Expected \`${option}\` to be between ${1 / scale} and ${MAX_UNITS / scale}, got ${value}.`)
  }
  return units
}

function ruleName(rule: Rule, option: string, fallback: string): string {
  const name = rule.name ?? fallback
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
    configError(
      `Expected \`${option}.name\` to be 1–64 characters of letters, digits, '_', '.' or '-', got ${shown(name)}.`,
    )
  }
  return name
}

function describeBy(by: By): string {
  return typeof by === 'function' ? 'custom' : by
}
