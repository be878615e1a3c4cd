import type { Decision } from '../engine/decision.js'
import { configError } from '../errors.js'
import type { RuleState } from '../types.js'

/** IETF RateLimit header drafts that can be sent. */
export type IetfDraft = 'draft-6' | 'draft-7' | 'draft-8' | 'draft-10'

/** Which header sets to send. */
export interface HeaderOptions {
  /** OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`. @default true */
  openai?: boolean
  /** IETF `RateLimit` / `RateLimit-Policy` in this draft, or false. @default 'draft-10' */
  ietf?: IetfDraft | false
  /** Legacy `X-RateLimit-Limit/Remaining/Reset` of the most restrictive rule. @default true */
  legacy?: boolean
}

/** Header options with every default filled in. */
export type ResolvedHeaderOptions = Required<HeaderOptions>

const DRAFTS: readonly IetfDraft[] = ['draft-6', 'draft-7', 'draft-8', 'draft-10']

/** Fills in header defaults and validates them once. */
export function resolveHeaderOptions(options: HeaderOptions | undefined): ResolvedHeaderOptions {
  const ietf = options?.ietf ?? 'draft-10'
  if (ietf !== false && !DRAFTS.includes(ietf)) {
    configError(
      `Expected \`headers.ietf\` to be one of ${DRAFTS.join(', ')} or false, got ${JSON.stringify(ietf)}.`,
    )
  }
  return { openai: options?.openai ?? true, ietf, legacy: options?.legacy ?? true }
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
    if (resolved.openai) openaiHeaders(rules, headers)
    if (resolved.ietf) ietfHeaders(rules, resolved.ietf, headers)
    if (resolved.legacy) {
      const rule = mostRestrictive(rules, undefined)
      if (rule) {
        headers['x-ratelimit-limit'] = String(rule.limit)
        headers['x-ratelimit-remaining'] = String(rule.remaining)
        headers['x-ratelimit-reset'] = String(Math.ceil((Date.now() + rule.resetMs) / 1000))
      }
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
  const total = Math.max(0, Math.ceil(ms))
  if (total < 1000) return `${total}ms`
  const hours = Math.floor(total / 3_600_000)
  const minutes = Math.floor((total % 3_600_000) / 60_000)
  const seconds = Number(((total % 60_000) / 1000).toFixed(3))
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`
  if (minutes > 0) return `${minutes}m${seconds}s`
  return `${seconds}s`
}

function openaiHeaders(rules: readonly RuleState[], headers: Record<string, string>): void {
  const requests = mostRestrictive(rules, 'requests')
  if (requests) {
    headers['x-ratelimit-limit-requests'] = String(requests.limit)
    headers['x-ratelimit-remaining-requests'] = String(requests.remaining)
    headers['x-ratelimit-reset-requests'] = formatResetDuration(requests.resetMs)
  }
  const tokens = mostRestrictive(rules, 'tokens')
  if (tokens) {
    headers['x-ratelimit-limit-tokens'] = String(tokens.limit)
    headers['x-ratelimit-remaining-tokens'] = String(tokens.remaining)
    headers['x-ratelimit-reset-tokens'] = formatResetDuration(tokens.resetMs)
  }
}

function ietfHeaders(rules: readonly RuleState[], draft: IetfDraft, headers: Record<string, string>): void {
  if (draft === 'draft-6' || draft === 'draft-7') {
    const rule = mostRestrictive(rules, undefined)
    if (!rule) return
    const reset = Math.ceil(rule.resetMs / 1000)
    headers['ratelimit-policy'] = rules.map((state) => `${quota(state)};w=${windowSeconds(state)}`).join(', ')
    if (draft === 'draft-6') {
      headers['ratelimit-limit'] = String(quota(rule))
      headers['ratelimit-remaining'] = String(Math.floor(rule.remaining * scaleOf(rule)))
      headers['ratelimit-reset'] = String(reset)
    } else {
      headers.ratelimit = `limit=${quota(rule)}, remaining=${Math.floor(rule.remaining * scaleOf(rule))}, reset=${reset}`
    }
    return
  }
  headers['ratelimit-policy'] = structuredPolicy(rules, draft === 'draft-10')
  let value = ''
  for (const state of rules) {
    if (value !== '') value += ', '
    value += `"${state.name}";r=${Math.floor(state.remaining * scaleOf(state))};t=${Math.ceil(state.resetMs / 1000)}`
  }
  headers.ratelimit = value
}

const POLICIES = new Map<string, string>()

/** The structured RateLimit-Policy of a rule set; it only changes with the rules, so it is memoised. */
function structuredPolicy(rules: readonly RuleState[], units: boolean): string {
  let key = units ? '1' : '0'
  for (const state of rules)
    key += `|${state.name}:${state.limit}:${state.windowMs > 0 ? state.windowMs : Math.ceil(state.resetMs / 1000) * 1000}`
  let policy = POLICIES.get(key)
  if (policy === undefined) {
    policy = rules
      .map((state) => {
        const window = state.measure === 'concurrent' ? '' : `;w=${windowSeconds(state)}`
        return `"${state.name}";q=${quota(state)}${window}${units ? unitOf(state) : ''}`
      })
      .join(', ')
    if (POLICIES.size >= 1000) POLICIES.clear()
    POLICIES.set(key, policy)
  }
  return policy
}

/** The denied rule, or the one with the least left relative to its limit (of one kind, if given). */
function mostRestrictive(
  rules: readonly RuleState[],
  kind: 'requests' | 'tokens' | undefined,
): RuleState | undefined {
  let best: RuleState | undefined
  let bestRatio = Number.POSITIVE_INFINITY
  for (const rule of rules) {
    if (kind === 'requests' && rule.measure !== 'requests') continue
    if (
      kind === 'tokens' &&
      rule.measure !== 'tokens' &&
      rule.measure !== 'inputTokens' &&
      rule.measure !== 'outputTokens'
    )
      continue
    const ratio = rule.denied ? -1 : rule.remaining / rule.limit
    if (ratio < bestRatio) {
      best = rule
      bestRatio = ratio
    }
  }
  return best
}

/** Structured-field integers cannot hold dollars, so cost quotas are sent in micro-USD. */
function scaleOf(rule: RuleState): number {
  return rule.measure === 'costUsd' ? 1_000_000 : 1
}

function quota(rule: RuleState): number {
  return Math.round(rule.limit * scaleOf(rule))
}

function unitOf(rule: RuleState): string {
  if (rule.measure === 'requests') return ''
  if (rule.measure === 'concurrent') return ';qu="concurrent-requests"'
  if (rule.measure === 'costUsd') return ';qu="usd-micros"'
  return ';qu="tokens"'
}

function windowSeconds(rule: RuleState): number {
  // Calendar rules have no fixed length; their window is reported up to the next reset.
  return rule.windowMs > 0
    ? Math.max(1, Math.round(rule.windowMs / 1000))
    : Math.max(1, Math.ceil(rule.resetMs / 1000))
}
