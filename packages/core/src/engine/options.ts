import type { ErrorFormat } from '../http/format-body.js'
import type { HeaderOptions } from '../http/format-headers.js'
import type { IdentifyOptions } from '../identity/index.js'
import type { ValidationsOption } from '../identity/warnings.js'
import type { PriceTable, PricingOptions, Tokenizer } from '../llm/index.js'
import type { Store } from '../store/store.js'
import type { Identity, LimitRequest, Rule, Usage } from '../types.js'
import type { Decision } from './decision.js'
import type { LimitErrorEvent, LimitResolverOptions } from './limit-resolver.js'
import type { ThresholdEvent } from './thresholds.js'

/** Scheduling priority of a plan's requests when queued. */
export type Priority = 'critical' | 'high' | 'normal' | 'low'

/** A plan: its own rules (added to the global ones), a model allowlist, a context cap and a priority. */
export interface Plan {
  /** Rules that apply to callers on this plan, in addition to the global `rules`. @default [] */
  rules?: Rule[]
  /** Models this plan may call (exact names, or prefixes ending in '*'). @default every model */
  models?: string[]
  /** Largest input + output budget one request may ask for; above it the answer is 400. @default no cap */
  maxContextTokens?: number
  /** Queue priority of this plan's requests. @default 'normal' */
  priority?: Priority
}

/** Per-route override, keyed by `'METHOD /path'` or `'/path'` (a trailing `*` matches a prefix). */
export interface RouteOptions {
  /** Rules that replace the global `rules` on this route (plan rules still apply). */
  rules?: Rule[]
  /** Do not limit this route at all. @default false */
  skip?: boolean
}

/** What to do when the store fails: allow, deny with 503, or count in an insurance store meanwhile. */
export type StoreErrorPolicy = 'fail-open' | 'fail-closed' | { insurance: Store }

/** Waiting instead of failing when a short-window rule denies. */
export interface QueueOptions {
  /** Longest a request may wait for capacity; a longer wait is denied at once. @default 1000 */
  maxWaitMs?: number
  /** Most requests waiting at once across all priorities. @default 1000 */
  maxSize?: number
  /** Most waiting requests per priority. @default maxSize for each */
  maxPerPriority?: Partial<Record<Priority, number>>
}

/** Figures reported when a decision is committed. */
export interface CommitEvent {
  /** The decision being settled. */
  decision: Decision
  /** Actual usage, or undefined when the reservation was released. */
  usage: Usage | undefined
  /** Actual cost in micro-USD. */
  costMicroUsd: number
}

/** Hooks for observing the limiter; each receives hashed identities only. */
export interface LimiterEvents {
  /** Called for every decision. */
  onDecision?: (decision: Decision) => void
  /** Called for every denial (and, in shadow mode, every would-be denial). */
  onDeny?: (decision: Decision) => void
  /** Called when a reservation is settled with actual usage, or released. */
  onCommit?: (event: CommitEvent) => void
  /** Called when the store fails; the `onStoreError` policy still decides. */
  onStoreError?: (error: unknown, store: Store) => void
  /** Called when a rule's limit function throws, returns a bad value or times out. */
  onLimitError?: (event: LimitErrorEvent) => void
  /** Called once per window, identity and fraction when usage crosses one of `thresholds` (fleet-wide through the store). */
  onThreshold?: (event: ThresholdEvent) => void
}

/** Every option of `createLimiter()` and of each adapter's `llmLimit()`. */
export interface LimiterOptions {
  /** Where counters live. @default memoryStore() */
  store?: Store
  /** Global rules. @default DEFAULT_RULES: 60 requests/min per IP (burst 20), 120 requests/min and 200,000 tokens/min per API key */
  rules?: Rule[]
  /** Plans by name. @default {} */
  plans?: Record<string, Plan>
  /** Picks the caller's plan from the verified identity; never from a client-controlled header. @default identity.plan */
  plan?: string | ((identity: Identity, request: LimitRequest) => string | undefined)
  /** How callers are identified. @default IP and API key (hashed) */
  identify?: IdentifyOptions
  /** Prices in USD per 1M tokens by model (exact name or longest prefix); they beat the catalog. @default {} */
  prices?: PriceTable
  /** The price catalog and the policy for unknown models (see docs/prices.md). @default { catalog: 'bundled', unknownModel: 'fallback' } */
  pricing?: PricingOptions
  /** Tokenizer for estimates. @default gptTokenizer() */
  tokenizer?: Tokenizer
  /** Output tokens reserved when a request sets no maximum. @default 1024 */
  defaultOutputTokens?: number
  /** Which header sets to send. @default { openai: true, ietf: 'draft-11', legacy: true } */
  headers?: HeaderOptions
  /** Shape of error bodies. @default 'openai' */
  errorFormat?: ErrorFormat
  /** Behaviour when the store fails. @default 'fail-closed' */
  onStoreError?: StoreErrorPolicy
  /** 'shadow' decides and reports but never blocks. @default 'enforce' */
  mode?: 'enforce' | 'shadow'
  /** Per-route overrides. @default {} */
  routes?: Record<string, RouteOptions>
  /** Cheaper model to fall back to when the requested one's rules deny. @default {} */
  downgrade?: Record<string, string>
  /** Requests to leave alone entirely. @default none */
  skip?: (request: LimitRequest) => boolean
  /** Queue requests that a short wait would admit. @default no queueing */
  queue?: QueueOptions
  /** Concurrency lease lifetime, after which a lease left by a crashed process expires. @default 600_000 */
  leaseTtlMs?: number
  /** Largest JSON body the adapters read themselves. @default 4 MiB */
  maxBodyBytes?: number
  /** Add `stream_options.include_usage` to OpenAI streaming requests so usage can be reconciled. @default true */
  includeStreamUsage?: boolean
  /** Warn-once checks of likely misconfiguration (WARN_TRUST_PROXY, WARN_DOUBLE_COUNT, WARN_CREATED_IN_HANDLER); false silences all, or pick codes. @default true */
  validations?: ValidationsOption
  /**
   * Read the operator's controls (`setLimit` overrides, `block`) from the store on every decision. The memory
   * store always does, at no cost until a control exists; a Redis store does only with `true` (one more call per
   * decision), so set it in every process sharing the store before using `setLimit` or `block`. @default false
   */
  controls?: boolean
  /** Fractions of a limit whose crossing `events.onThreshold` reports. @default [0.8, 1] */
  thresholds?: number[]
  /** How per-identity limit functions are cached and survived. @default { ttlMs: 60_000, timeoutMs: 1000, onError: 'fallback' } */
  limitResolver?: LimitResolverOptions
  /** Hooks called with every decision, denial, settlement and store failure. @default {} */
  events?: LimiterEvents
}
