import type { Decision } from '../engine/decision.js'
import { configError, shown } from '../errors.js'
import type { RuleState } from '../types.js'

/** IETF RateLimit header drafts that can be sent. */
export type IetfDraft = 'draft-6' | 'draft-7' | 'draft-8' | 'draft-10' | 'draft-11'

/** Which header sets to send. */
export interface HeaderOptions {
  /** OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`. @default true */
  openai?: boolean
  /**
   * IETF `RateLimit` / `RateLimit-Policy` in this draft, or false. Draft-11 sends registered quota
   * units only, token and dollar units as the vendor parameter `llm-limit-unit`. @default 'draft-11'
   */
  ietf?: IetfDraft | false
  /** Legacy `X-RateLimit-Limit/Remaining/Reset` of the most restrictive rule. @default true */
  legacy?: boolean
}

/** Header options with every default filled in. */
export type ResolvedHeaderOptions = Required<HeaderOptions>

const DRAFTS: readonly IetfDraft[] = ['draft-6', 'draft-7', 'draft-8', 'draft-10', 'draft-11']

/** Fills in header defaults and validates them once. */
export function resolveHeaderOptions(options: HeaderOptions | undefined): ResolvedHeaderOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    configError(
      `Expected \`headers\` to be an object like { openai: true, ietf: 'draft-11', legacy: true }, got ${shown(options)}.`,
    )
  }
  for (const set of ['openai', 'legacy'] as const) {
    const value = options?.[set]
    if (value !== undefined && typeof value !== 'boolean')
      configError(`Expected \`headers.${set}\` to be true or false, got ${shown(value)}.`)
  }
  const ietf = options?.ietf ?? 'draft-11'
  if (ietf !== false && !DRAFTS.includes(ietf)) {
    configError(`Expected \`headers.ietf\` to be one of ${DRAFTS.join(', ')} or false, got ${shown(ietf)}.`)
  }
  return { openai: options?.openai ?? true, ietf, legacy: options?.legacy ?? true }
}

/** The rules a header set reports on, found in one pass: the tightest overall, of requests, of tokens. */
interface Tightest {
  any: RuleState | undefined
  requests: RuleState | undefined
  tokens: RuleState | undefined
}

/**
 * The rate-limit headers of a decision: OpenAI, IETF and legacy sets as configured, plus
 * `Retry-After`, `retry-after-ms` and `x-should-retry` on denials.
 */
export function formatHeaders(decision: Decision, options?: HeaderOptions): Record<string, string> {
  const resolved =
    options && 'openai' in options && 'ietf' in options && 'legacy' in options
      ? (options as ResolvedHeaderOptions)
      : resolveHeaderOptions(options)
  const headers: Record<string, string> = {}
  const rules = decision.rules
  if (rules.length > 0) {
    const tightest = tightestRules(rules)
    if (resolved.openai) openaiHeaders(tightest, headers)
    if (resolved.ietf) ietfHeaders(rules, tightest.any as RuleState, resolved.ietf, headers)
    if (resolved.legacy) {
      // The same unit as the IETF fields: integers, micro-USD for cost rules.
      const rule = tightest.any as RuleState
      headers['x-ratelimit-limit'] = String(quota(rule))
      headers['x-ratelimit-remaining'] = String(remainingUnits(rule))
      headers['x-ratelimit-reset'] = String(Math.ceil((Date.now() + rule.resetMs) / 1000))
    }
  }
  if (!decision.allowed) {
    if (decision.retryAfterMs > 0) {
      headers['retry-after'] = String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000)))
      headers['retry-after-ms'] = String(Math.ceil(decision.retryAfterMs))
    }
    if (!decision.retryable) headers['x-should-retry'] = 'false'
  }
  if (decision.downgradedFrom !== undefined && decision.model !== undefined) {
    headers['x-llm-limit-model'] = decision.model
    headers['x-llm-limit-downgraded-from'] = decision.downgradedFrom
  }
  return headers
}

/** Formats ms the way OpenAI does: `120ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`. */
export function formatResetDuration(ms: number): string {
  const total = ms > 0 ? Math.ceil(ms) : 0
  if (total < 1000) return `${total}ms`
  const hours = Math.floor(total / 3_600_000)
  const minutes = Math.floor((total % 3_600_000) / 60_000)
  const rest = total % 60_000
  const whole = Math.floor(rest / 1000)
  const fraction = rest % 1000
  // Integer arithmetic: toFixed() and Number() cost more than the rest of the header set.
  let seconds = String(whole)
  if (fraction > 0) {
    const digits = fraction < 10 ? `00${fraction}` : fraction < 100 ? `0${fraction}` : String(fraction)
    seconds += `.${digits.replace(TRAILING_ZEROS, '')}`
  }
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`
  if (minutes > 0) return `${minutes}m${seconds}s`
  return `${seconds}s`
}

const TRAILING_ZEROS = /0+$/

function openaiHeaders(tightest: Tightest, headers: Record<string, string>): void {
  const requests = tightest.requests
  if (requests) {
    headers['x-ratelimit-limit-requests'] = String(requests.limit)
    headers['x-ratelimit-remaining-requests'] = String(requests.remaining)
    headers['x-ratelimit-reset-requests'] = formatResetDuration(requests.resetMs)
  }
  const tokens = tightest.tokens
  if (tokens) {
    headers['x-ratelimit-limit-tokens'] = String(tokens.limit)
    headers['x-ratelimit-remaining-tokens'] = String(tokens.remaining)
    headers['x-ratelimit-reset-tokens'] = formatResetDuration(tokens.resetMs)
  }
}

function ietfHeaders(
  rules: readonly RuleState[],
  rule: RuleState,
  draft: IetfDraft,
  headers: Record<string, string>,
): void {
  if (draft === 'draft-6' || draft === 'draft-7') {
    const reset = Math.ceil(rule.resetMs / 1000)
    headers['ratelimit-policy'] = rules.map((state) => `${quota(state)};w=${windowSeconds(state)}`).join(', ')
    if (draft === 'draft-6') {
      headers['ratelimit-limit'] = String(quota(rule))
      headers['ratelimit-remaining'] = String(remainingUnits(rule))
      headers['ratelimit-reset'] = String(reset)
    } else {
      headers.ratelimit = `limit=${quota(rule)}, remaining=${remainingUnits(rule)}, reset=${reset}`
    }
    return
  }
  headers['ratelimit-policy'] = structuredPolicy(rules, draft === 'draft-8' ? 'none' : draft)
  let value = ''
  for (const state of rules) {
    if (value !== '') value += ', '
    value += `"${state.name}";r=${remainingUnits(state)};t=${Math.ceil(state.resetMs / 1000)}`
  }
  headers.ratelimit = value
}

/** One memoised RateLimit-Policy: the rule fields it was built from, and the value. */
interface PolicyEntry {
  units: UnitStyle
  names: string[]
  limits: number[]
  windows: number[]
  value: string
}

const POLICIES: PolicyEntry[] = []

/**
 * The structured RateLimit-Policy of a rule set. It only changes with the rules, so it is
 * memoised; entries are matched field by field, which costs less than building a key string.
 */
function structuredPolicy(rules: readonly RuleState[], units: UnitStyle): string {
  for (const entry of POLICIES) if (matches(entry, rules, units)) return entry.value
  const value = rules
    .map((state) => {
      const window = state.measure === 'concurrent' ? '' : `;w=${windowSeconds(state)}`
      return `"${state.name}";q=${quota(state)}${window}${unitOf(state, units)}`
    })
    .join(', ')
  // Rule sets are few (routes × plans); a bounded list keeps a misuse from growing without end.
  if (POLICIES.length >= 64) POLICIES.shift()
  POLICIES.push({
    units,
    names: rules.map((state) => state.name),
    limits: rules.map((state) => state.limit),
    windows: rules.map(policyWindow),
    value,
  })
  return value
}

function matches(entry: PolicyEntry, rules: readonly RuleState[], units: UnitStyle): boolean {
  if (entry.units !== units || entry.names.length !== rules.length) return false
  for (let i = 0; i < rules.length; i++) {
    const state = rules[i]
    if (entry.names[i] !== state.name || entry.limits[i] !== state.limit) return false
    if (entry.windows[i] !== policyWindow(state)) return false
  }
  return true
}

/** The window a policy reports: the rule's own, or for calendar rules the whole seconds to the next reset. */
function policyWindow(state: RuleState): number {
  return state.windowMs > 0 ? state.windowMs : Math.ceil(state.resetMs / 1000) * 1000
}

/** The denied rule, else the one with the least left relative to its limit; overall, of requests and of tokens. */
function tightestRules(rules: readonly RuleState[]): Tightest {
  const tightest: Tightest = { any: undefined, requests: undefined, tokens: undefined }
  let any = Number.POSITIVE_INFINITY
  let requests = any
  let tokens = any
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]
    const ratio = rule.denied ? -1 : rule.remaining / rule.limit
    if (ratio < any) {
      tightest.any = rule
      any = ratio
    }
    const measure = rule.measure
    if (measure === 'requests') {
      if (ratio < requests) {
        tightest.requests = rule
        requests = ratio
      }
    } else if (measure === 'tokens' || measure === 'inputTokens' || measure === 'outputTokens') {
      if (ratio < tokens) {
        tightest.tokens = rule
        tokens = ratio
      }
    }
  }
  return tightest
}

/** Structured-field integers cannot hold dollars, so cost quotas are sent in micro-USD. */
function scaleOf(rule: RuleState): number {
  return rule.measure === 'costUsd' ? 1_000_000 : 1
}

/**
 * What is left in the header's integer unit. A cost rule's dollars are whole micro-USD divided by a
 * million, and multiplying back can land just below the integer (0.524287 × 1e6 = 524286.99…), so
 * the product is rounded to a thousandth of a unit before it is floored.
 */
function remainingUnits(rule: RuleState): number {
  const scale = scaleOf(rule)
  return scale === 1
    ? Math.floor(rule.remaining)
    : Math.floor(Math.round(rule.remaining * scale * 1000) / 1000)
}

function quota(rule: RuleState): number {
  return Math.round(rule.limit * scaleOf(rule))
}

/**
 * How a policy names its unit: draft-8 not at all; draft-10 in `qu`, as llm-limit always sent it;
 * draft-11 in `qu` only for the units IANA registers (`requests` is the default and left out,
 * `concurrent-requests`), and for tokens and dollars in the vendor parameter `llm-limit-unit`.
 */
type UnitStyle = 'none' | 'draft-10' | 'draft-11'

/** Units of measures with no registered quota unit, as `llm-limit-unit` names them. */
const VENDOR_UNITS: Record<string, string> = {
  tokens: 'tokens',
  inputTokens: 'input-tokens',
  outputTokens: 'output-tokens',
  costUsd: 'usd-micros',
}

function unitOf(rule: RuleState, style: UnitStyle): string {
  if (style === 'none' || rule.measure === 'requests') return ''
  if (rule.measure === 'concurrent') return ';qu="concurrent-requests"'
  if (style === 'draft-11') return `;llm-limit-unit="${VENDOR_UNITS[rule.measure]}"`
  return rule.measure === 'costUsd' ? ';qu="usd-micros"' : ';qu="tokens"'
}

function windowSeconds(rule: RuleState): number {
  // Calendar rules have no fixed length; their window is reported up to the next reset.
  return rule.windowMs > 0
    ? Math.max(1, Math.round(rule.windowMs / 1000))
    : Math.max(1, Math.ceil(rule.resetMs / 1000))
}
