/** What a rule measures; each rule measures exactly one of these. */
export type Measure = 'requests' | 'tokens' | 'inputTokens' | 'outputTokens' | 'costUsd' | 'concurrent'

/** The counting algorithm of a windowed rule. */
export type Algorithm = 'token-bucket' | 'sliding-window' | 'fixed-window'

/** A rolling duration such as `'250ms'`, `'1s'`, `'1m'`, `'1h'`, `'30d'`, or a calendar period (UTC unless the rule sets `timeZone`). */
export type Duration = `${number}${'ms' | 's' | 'm' | 'h' | 'd'}` | 'day' | 'week' | 'month'

/** A plain, framework-free view of one HTTP request, produced by an adapter. */
export interface LimitRequest {
  /** Upper-case HTTP method. */
  method: string
  /** URL path without the query string. */
  path: string
  /** Request headers with lower-case names. */
  headers: Readonly<Record<string, string | string[] | undefined>>
  /** The client IP as the framework trusts it (after its own proxy settings). */
  ip?: string
  /** The parsed JSON body, when there is one. */
  body?: unknown
  /** A user id the application has already authenticated, if any. */
  user?: string
}

/** Who is calling: every field is safe to use in a store key or a log line (API keys are hashed). */
export interface Identity {
  /** Normalised client IP (IPv6 grouped by subnet, IPv4-mapped folded to IPv4). */
  ip?: string
  /** SHA-256 digest (hex, truncated) of the API key; never the raw key. */
  apiKey?: string
  /** User id from a verified JWT, the API-key resolver or the application. */
  user?: string
  /** Plan name from verified claims, the API-key resolver or the `plan` resolver. */
  plan?: string
  /** Verified JWT claims, when a JWT was presented and verified. */
  claims?: Readonly<Record<string, unknown>>
}

/** Which identity a rule counts against, or a function returning its own key. */
export type By = 'ip' | 'apiKey' | 'user' | 'global' | ((identity: Identity, request: LimitRequest) => string)

/**
 * A limit that depends on the caller, e.g. a budget read from the operator's database; sync or async.
 * Its result is cached per identity for `limitResolver.ttlMs`.
 */
export type LimitFunction = (identity: Identity, request: LimitRequest) => number | Promise<number>

/** A rule's limit: a number, or a function of the identity and request. */
export type Limit = number | LimitFunction

/** One limit: exactly one measure, a window (except `concurrent`) and the identity it applies to. */
export interface Rule {
  /** Unique name used in headers, errors and store keys. @default derived from measure, by and per */
  name?: string
  /** Who the rule counts against. @default 'ip' */
  by?: By
  /** Maximum requests per window; a function gives each identity its own (see `LimitFunction`). */
  requests?: Limit
  /** Maximum input + output tokens per window. */
  tokens?: Limit
  /** Maximum input tokens per window. */
  inputTokens?: Limit
  /** Maximum output tokens per window. */
  outputTokens?: Limit
  /** Maximum spend in USD per window (stored as integer micro-USD). */
  costUsd?: Limit
  /** Maximum calls in flight at once (no window). */
  concurrent?: Limit
  /** Window length or calendar period. @default '1m' */
  per?: Duration
  /**
   * IANA time zone of a calendar rule (`per: 'day' | 'week' | 'month'`), e.g. `'America/New_York'`: its days
   * start at local midnight (23 or 25 hours long across a clock change), weeks on local Monday, months on the
   * local 1st. @default 'UTC'
   */
  timeZone?: string
  /** Counting algorithm. @default 'token-bucket' for request rules up to 1h, 'sliding-window' for every other rolling rule (tokens and dollars included), 'fixed-window' for calendar periods */
  algorithm?: Algorithm
  /** Token bucket only: how much may be taken at once. @default the limit */
  burst?: number
  /** Apply the rule only to requests for these models (exact names or prefixes ending in `*`). @default all models */
  models?: readonly string[]
  /** Keep a separate counter per model. @default false */
  perModel?: boolean
  /**
   * The limit used when the rule's limit function throws, returns a bad value or outlasts
   * `limitResolver.timeoutMs`; without one such a request is refused with 503. @default none
   */
  fallback?: number
}

/** Token usage of one LLM call, as reported by the provider or the handler. */
export interface Usage {
  /** Prompt tokens, including cached ones. */
  inputTokens: number
  /** Completion tokens. */
  outputTokens: number
  /** Prompt tokens served from the provider's cache (billed at the cached price). */
  cachedInputTokens?: number
  /** Of `inputTokens`, those written to the provider's cache (billed at the cache-write price). */
  cacheWriteTokens?: number
  /** Of `cacheWriteTokens`, those written to Anthropic's 1-hour cache (billed at the 1-hour price). */
  cacheWrite1hTokens?: number
  /** Of `outputTokens`, those spent reasoning / thinking (billed at the reasoning price, usually output's). */
  reasoningTokens?: number
  /** Cost in integer micro-USD; computed from the price table when absent. */
  costMicroUsd?: number
  /** The model that served the call, when it differs from the requested one. */
  model?: string
}

/** The estimate reserved before the call. */
export interface Estimate {
  /** Requested model, or undefined for a non-LLM request. */
  model: string | undefined
  /** Estimated input tokens. */
  inputTokens: number
  /** Output budget: max output tokens × n, or the configured default. */
  outputTokens: number
  /** Estimated cost in USD (derived from `costMicroUsd`). */
  costUsd: number
  /** Estimated cost in integer micro-USD. */
  costMicroUsd: number
}

/** Why a request was denied, or 'ok'. */
export type Reason =
  | 'ok'
  | 'requests'
  | 'tokens'
  | 'cost'
  | 'concurrent'
  | 'model_not_allowed'
  | 'context_length_exceeded'
  | 'request_too_large'
  | 'invalid_request'
  | 'unauthorized'
  | 'blocked'
  | 'store_error'

/** The state of one rule after a decision, in the rule's own units (USD for cost rules). */
export interface RuleState {
  /** Rule name. */
  name: string
  /** What the rule measures. */
  measure: Measure
  /** The rule's limit per window. */
  limit: number
  /** What is left in the current window after this decision. */
  remaining: number
  /** Milliseconds until the rule is fully replenished. */
  resetMs: number
  /** Window length in ms (0 for concurrency rules). */
  windowMs: number
  /** True when this rule denied the request. */
  denied: boolean
}
