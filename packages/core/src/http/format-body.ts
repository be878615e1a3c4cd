import { outputParam } from '../engine/affordable.js'
import type { Decision } from '../engine/decision.js'
import type { Reason } from '../types.js'

/** A complete error response: status, content type and serialised body. */
export interface ErrorResponse {
  /** HTTP status. */
  status: number
  /** Content-Type of the body. */
  contentType: string
  /** Serialised body. */
  body: string
}

/** Shape of error bodies: the shapes OpenAI, Anthropic and Gemini clients parse, RFC 9457 problem details, or your own. */
export type ErrorFormat =
  | 'openai'
  | 'anthropic'
  | 'gemini'
  | 'problem'
  | ((decision: Decision) => ErrorResponse)

const CODES: Record<Reason, string> = {
  ok: 'ok',
  requests: 'rate_limit_exceeded',
  tokens: 'rate_limit_exceeded',
  cost: 'insufficient_quota',
  concurrent: 'rate_limit_exceeded',
  model_not_allowed: 'model_not_allowed',
  context_length_exceeded: 'context_length_exceeded',
  request_too_large: 'request_too_large',
  invalid_request: 'invalid_request',
  unauthorized: 'invalid_api_key',
  blocked: 'blocked',
  store_error: 'store_unavailable',
}

const ANTHROPIC_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  503: 'overloaded_error',
}

/** The stable error code a denial reports (`rate_limit_exceeded`, `insufficient_quota`, …). */
export function errorCode(reason: Reason): string {
  return CODES[reason]
}

/** Serialises the error body of a denied decision in the chosen format. */
export function formatBody(decision: Decision, format: ErrorFormat = 'openai'): ErrorResponse {
  if (typeof format === 'function') return format(decision)
  const { status, message, reason } = decision
  const code = CODES[reason]
  // A denial by output budgets names the output cap that fits now, so a client can retry smaller.
  const affordable = decision.affordableMaxTokens
  const param = affordable !== undefined && decision.llm ? outputParam(decision.llm) : null
  const fits = param === null ? undefined : affordable
  if (format === 'anthropic') {
    const type = ANTHROPIC_TYPES[status] ?? 'api_error'
    return {
      status,
      contentType: 'application/json',
      body: JSON.stringify({ type: 'error', error: { type, message, affordable_max_tokens: fits } }),
    }
  }
  if (format === 'gemini') return { status, contentType: 'application/json', body: geminiBody(decision) }
  if (format === 'problem') {
    // RFC 9457; a quota denial is the IANA-registered `quota-exceeded` type of the IETF RateLimit
    // draft, naming the policies (rules) it exceeded as they appear in RateLimit-Policy.
    const quota = status === 429
    const problem = {
      type: quota ? QUOTA_EXCEEDED : 'about:blank',
      title: quota ? 'Request cannot be satisfied as assigned quota has been exceeded' : statusTitle(status),
      status,
      detail: message,
      ...(quota ? { 'violated-policies': violatedPolicies(decision) } : {}),
      code,
      rule: decision.rule ?? null,
      retryAfterMs: decision.retryAfterMs > 0 ? decision.retryAfterMs : null,
      param: param ?? undefined,
      affordableMaxTokens: fits,
    }
    return { status, contentType: 'application/problem+json', body: JSON.stringify(problem) }
  }
  const type = status === 429 ? openaiType(reason) : status === 503 ? 'server_error' : 'invalid_request_error'
  return {
    status,
    contentType: 'application/json',
    body: JSON.stringify({ error: { message, type, param, code, affordable_max_tokens: fits } }),
  }
}

/** The IANA problem type for requests over a quota policy (IETF RateLimit header fields draft). */
const QUOTA_EXCEEDED = 'https://iana.org/assignments/http-problem-types#quota-exceeded'

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  413: 'Content Too Large',
  503: 'Service Unavailable',
}

/** With `about:blank`, RFC 9457 asks for the status's own phrase as the title. */
function statusTitle(status: number): string {
  return STATUS_TITLES[status] ?? 'Error'
}

/** The rules that denied, by the names RateLimit-Policy gives them. */
function violatedPolicies(decision: Decision): string[] {
  const names = decision.rules.filter((rule) => rule.denied).map((rule) => rule.name)
  if (names.length === 0 && decision.rule !== undefined) names.push(decision.rule)
  return names
}

function openaiType(reason: Reason): string {
  return reason === 'requests' || reason === 'tokens' || reason === 'cost' || reason === 'concurrent'
    ? reason
    : 'requests'
}

/** google.rpc status names by HTTP status, as Google's APIs answer. */
const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  503: 'UNAVAILABLE',
}

/** Google's error shape; a wait goes in a RetryInfo detail, which Google's SDKs read (`"12.5s"`). */
function geminiBody({ status, message, retryAfterMs }: Decision): string {
  const details =
    retryAfterMs > 0
      ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfterMs / 1000}s` }]
      : undefined
  return JSON.stringify({
    error: { code: status, message, status: GOOGLE_STATUS[status] ?? 'UNKNOWN', details },
  })
}
