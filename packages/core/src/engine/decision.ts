import { LlmLimitError } from '../errors.js'
import type { LlmRequest } from '../llm/index.js'
import type { Store, StoreAdjustment, StoreCheck, StoreContext } from '../store/store.js'
import type { Estimate, Identity, Measure, Reason, RuleState, Usage } from '../types.js'
import { amountOf } from './amount.js'
import type { Priority } from './options.js'

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

/** What is known about a request before the store is asked. */
export interface DecisionContext {
  readonly identity: Identity
  readonly plan: string | undefined
  readonly priority: Priority
  readonly estimate: Estimate
  readonly llm: LlmRequest | undefined
  readonly downgradedFrom: string | undefined
  readonly shadow: boolean
}

/** The verdict part of a decision. */
export interface Verdict {
  readonly allowed: boolean
  readonly reason: Reason
  readonly status: number
  readonly message: string
  readonly retryAfterMs: number
  readonly retryable: boolean
  readonly rules: readonly RuleState[]
  readonly rule: string | undefined
}

/** The verdict of an admitted request. */
export function allowedVerdict(rules: readonly RuleState[]): Verdict {
  return {
    allowed: true,
    reason: 'ok',
    status: 200,
    message: '',
    retryAfterMs: 0,
    retryable: true,
    rules,
    rule: undefined,
  }
}

const MAX_TOKENS = 1e9

/** A decision plus its reservation; settles exactly once. */
export class LimitDecision implements Decision {
  readonly allowed: boolean
  readonly reason: Reason
  readonly rule: string | undefined
  readonly status: number
  readonly message: string
  readonly retryAfterMs: number
  readonly retryable: boolean
  readonly rules: readonly RuleState[]
  readonly estimate: Estimate
  readonly identity: Identity
  readonly plan: string | undefined
  readonly priority: Priority
  readonly wouldDeny: boolean
  readonly model: string | undefined
  readonly downgradedFrom: string | undefined
  readonly llm: LlmRequest | undefined
  /** When a lease was taken (epoch ms), to learn how long leases are held; 0 without leases. */
  readonly createdAt: number
  private settlement: Promise<void> | undefined

  constructor(
    context: DecisionContext,
    verdict: Verdict,
    private readonly reservations: readonly Reservation[],
    private readonly store: Store | undefined,
    private readonly request: StoreContext,
    private readonly settler: Settler | undefined,
  ) {
    // Explicit assignments keep one hidden class; spreading objects here cost more than the whole decision.
    this.identity = context.identity
    this.plan = context.plan
    this.priority = context.priority
    this.estimate = context.estimate
    this.llm = context.llm
    this.model = context.estimate.model
    this.downgradedFrom = context.downgradedFrom
    // Shadow mode reports the verdict but lets the request through.
    const wouldDeny = !verdict.allowed && context.shadow
    this.allowed = verdict.allowed || wouldDeny
    this.wouldDeny = wouldDeny
    this.status = wouldDeny ? 200 : verdict.status
    this.reason = verdict.reason
    this.message = verdict.message
    this.retryAfterMs = verdict.retryAfterMs
    this.retryable = verdict.retryable
    this.rules = verdict.rules
    this.rule = verdict.rule
    let leased = false
    for (const reservation of reservations) if (reservation.measure === 'concurrent') leased = true
    this.createdAt = leased ? Date.now() : 0
  }

  /** True when the decision reserved tokens, dollars or a lease that must be settled. */
  get needsSettlement(): boolean {
    return this.reservations.length > 0 && this.settlement === undefined
  }

  get settled(): boolean {
    return this.settlement !== undefined
  }

  commit(usage?: Partial<Usage>): Promise<void> {
    if (this.settlement) return this.settlement
    let actual: Usage
    try {
      actual = completeUsage(usage, this.estimate)
    } catch (error) {
      return Promise.reject(error)
    }
    const cost = actual.costMicroUsd ?? this.settler?.costMicroUsd(actual.model ?? this.model, actual) ?? 0
    this.settlement = this.settle(
      (measure, reserved) => amountOf(measure, { ...actual, costMicroUsd: cost }) - reserved,
      actual,
      cost,
    )
    return this.settlement
  }

  release(): Promise<void> {
    this.settlement ??= this.settle(
      (measure, reserved) => (measure === 'requests' ? 0 : -reserved),
      undefined,
      0,
    )
    return this.settlement
  }

  private async settle(
    deltaOf: (measure: Measure, reserved: number) => number,
    usage: Usage | undefined,
    cost: number,
  ): Promise<void> {
    const adjustments: StoreAdjustment[] = []
    for (const { check, window, measure } of this.reservations) {
      const delta = measure === 'concurrent' ? -1 : deltaOf(measure, check.cost)
      if (delta !== 0) adjustments.push({ check, window, delta })
    }
    if (adjustments.length > 0 && this.store) {
      try {
        await this.store.adjust(adjustments, this.request)
      } catch (error) {
        // Settling is best effort: leases expire and windows roll over even when the store is down.
        this.settler?.failed(error, this.store)
      }
    }
    this.settler?.settled(this, usage, cost)
  }
}

/** Fills fields the caller left out from the estimate and rejects numbers no provider reports. */
function completeUsage(usage: Partial<Usage> | undefined, estimate: Estimate): Usage {
  const inputTokens = count(usage?.inputTokens, estimate.inputTokens, 'inputTokens')
  const outputTokens = count(usage?.outputTokens, estimate.outputTokens, 'outputTokens')
  const complete: Usage = { inputTokens, outputTokens }
  if (usage?.cachedInputTokens !== undefined) {
    complete.cachedInputTokens = Math.min(inputTokens, count(usage.cachedInputTokens, 0, 'cachedInputTokens'))
  }
  if (usage?.cacheWriteTokens !== undefined)
    complete.cacheWriteTokens = count(usage.cacheWriteTokens, 0, 'cacheWriteTokens')
  if (usage?.costMicroUsd !== undefined)
    complete.costMicroUsd = count(usage.costMicroUsd, 0, 'costMicroUsd', 1e15)
  if (typeof usage?.model === 'string') complete.model = usage.model
  return complete
}

function count(value: unknown, fallback: number, field: string, max = MAX_TOKENS): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new LlmLimitError(
      'ERR_INVALID_USAGE',
      `Expected \`commit({ ${field} })\` to be a whole number between 0 and ${max}, got ${JSON.stringify(value)}.`,
    )
  }
  return value
}
