import type { LlmRequest } from '../llm/index.js'
import type { Store, StoreCheck, StoreContext } from '../store/store.js'
import type { Estimate, Identity, Measure, Reason, RuleState, Usage } from '../types.js'
import type { Priority } from './options.js'
import type { CompiledPlan } from './resolve-options.js'
import type { RuleSet } from './rule-set.js'

export { LimitDecision } from './limit-decision.js'

/** The answer to one request, available to handlers as `req.llmLimit`, `ctx.state.llmLimit` or `c.get('llmLimit')`. */
export interface Decision {
  /** The request may proceed (always true in shadow mode). */
  readonly allowed: boolean
  /** Why it was denied (or would have been, in shadow mode), or 'ok'. */
  readonly reason: Reason
  /** Name of the rule that denied it. */
  readonly rule: string | undefined
  /** HTTP status to answer with: 200 when allowed, otherwise 429, 403, 400, 413, 401 or 503. */
  readonly status: number
  /** Human-readable explanation that names the rule. */
  readonly message: string
  /** Ms until a retry can succeed; 0 when allowed. */
  readonly retryAfterMs: number
  /** False when waiting cannot help (budget for the period spent, request larger than the rule). */
  readonly retryable: boolean
  /** After a denial by output budgets (tokens, outputTokens, costUsd): the largest `max_tokens` per choice with which the same request fits now; undefined otherwise, or when not even 1 fits. */
  readonly affordableMaxTokens: number | undefined
  /** State of every rule that applied. */
  readonly rules: readonly RuleState[]
  /** The estimate reserved before the call. */
  readonly estimate: Estimate
  /** Who was charged (hashed API key, normalised IP). */
  readonly identity: Identity
  /** The caller's plan. */
  readonly plan: string | undefined
  /** Queue priority of the request. */
  readonly priority: Priority
  /** In shadow mode: the request would have been denied. */
  readonly wouldDeny: boolean
  /** The model the request proceeds on (differs from the requested one after a downgrade). */
  readonly model: string | undefined
  /** The requested model, when the limiter downgraded it. */
  readonly downgradedFrom: string | undefined
  /** The parsed LLM request, when the body was one. */
  readonly llm: LlmRequest | undefined
  /** True once committed or released. */
  readonly settled: boolean
  /** Replaces the estimate with actual usage (fields left out keep the estimate) and releases leases; idempotent. */
  commit(usage?: Partial<Usage>): Promise<void>
  /** Refunds token and cost reservations and releases leases; request counts stay spent; idempotent. */
  release(): Promise<void>
}

/** One charge taken by an admitted decision, kept to reconcile it later. */
export interface Reservation {
  readonly check: StoreCheck
  readonly window: number
  readonly measure: Measure
}

/** What a decision needs from its limiter to settle itself. */
export interface Settler {
  costMicroUsd(model: string | undefined, usage: Usage): number
  settled(decision: Decision, usage: Usage | undefined, costMicroUsd: number): void
  failed(error: unknown, store: Store): void
}

/** What is known about a request before the store is asked; also the store context of its settlement. */
export interface DecisionContext extends StoreContext {
  readonly identity: Identity
  readonly plan: CompiledPlan | undefined
  readonly priority: Priority
  readonly estimate: Estimate
  readonly llm: LlmRequest | undefined
  readonly downgradedFrom: string | undefined
  readonly shadow: boolean
  /** The rules that were counted, one per check. */
  readonly applied: RuleSet
  readonly checks: readonly StoreCheck[]
}
