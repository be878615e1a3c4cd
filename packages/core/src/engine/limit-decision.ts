import type { LlmRequest } from '../llm/index.js'
import type { ConsumeResult, Store, StoreAdjustment } from '../store/store.js'
import type { Estimate, Identity, Measure, Reason, RuleState, Usage } from '../types.js'
import { amountOf } from './amount.js'
import { completeUsage } from './complete-usage.js'
import type { Decision, DecisionContext, Reservation, Settler } from './decision.js'
import type { Priority } from './options.js'
import { ruleStates, type Verdict } from './verdict.js'

/**
 * A decision plus its reservation; settles exactly once. What the verdict, the context and the
 * store's result already hold is read through getters, and rule states and reservations are built on first read,
 * so a decision nobody inspects costs one small object.
 */
export class LimitDecision implements Decision {
  readonly wouldDeny: boolean
  /** When a lease was taken (epoch ms), to learn how long leases are held; 0 without leases. */
  readonly createdAt: number
  private states: readonly RuleState[] | undefined = undefined
  private reserved: readonly Reservation[] | undefined = undefined
  private settlement: Promise<void> | undefined = undefined

  /** `store` and `result` are given only when the store admitted and charged the request. */
  constructor(
    private readonly context: DecisionContext,
    private readonly verdict: Verdict,
    private readonly settler: Settler | undefined,
    private readonly store?: Store,
    private readonly result?: ConsumeResult,
  ) {
    // Shadow mode reports the verdict but lets the request through.
    this.wouldDeny = !verdict.allowed && context.shadow
    this.createdAt = store !== undefined && context.applied.leases ? Date.now() : 0
  }

  get allowed(): boolean {
    return this.verdict.allowed || this.wouldDeny
  }

  get status(): number {
    return this.wouldDeny ? 200 : this.verdict.status
  }

  get reason(): Reason {
    return this.verdict.reason
  }

  get rule(): string | undefined {
    return this.verdict.rule
  }

  get retryAfterMs(): number {
    return this.verdict.retryAfterMs
  }

  get retryable(): boolean {
    return this.verdict.retryable
  }

  get rules(): readonly RuleState[] {
    this.states ??=
      this.verdict.rules ??
      (this.result === undefined ? [] : ruleStates(this.context.applied.rules, this.result))
    return this.states
  }

  get message(): string {
    return this.verdict.message
  }

  get affordableMaxTokens(): number | undefined {
    const fit = this.verdict.fit
    return fit !== undefined && fit.maxTokens > 0 ? fit.maxTokens : undefined
  }

  get estimate(): Estimate {
    return this.context.estimate
  }

  get identity(): Identity {
    return this.context.identity
  }

  get plan(): string | undefined {
    return this.context.plan?.name
  }

  get priority(): Priority {
    return this.context.priority
  }

  get model(): string | undefined {
    return this.context.estimate.model
  }

  get downgradedFrom(): string | undefined {
    return this.context.downgradedFrom
  }

  get llm(): LlmRequest | undefined {
    return this.context.llm
  }

  /** True when the decision reserved tokens, dollars or a lease that must be settled. */
  get needsSettlement(): boolean {
    return this.settlement === undefined && this.reservations().length > 0
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

  /** The public fields, so a decision serialises as what handlers see (never the store or the settler). */
  toJSON(): Omit<Decision, 'commit' | 'release'> {
    const { allowed, reason, rule, status, message, retryAfterMs, retryable, rules, estimate, identity } =
      this
    const { plan, priority, wouldDeny, model, downgradedFrom, llm, settled, affordableMaxTokens } = this
    const verdict = {
      allowed,
      reason,
      rule,
      status,
      message,
      retryAfterMs,
      retryable,
      affordableMaxTokens,
      rules,
    }
    return { ...verdict, estimate, identity, plan, priority, wouldDeny, model, downgradedFrom, llm, settled }
  }

  /** What an admitted decision took beyond a request count: tokens, dollars and leases, to reconcile later. */
  private reservations(): readonly Reservation[] {
    if (this.reserved !== undefined) return this.reserved
    const reserved: Reservation[] = []
    const { store, result, context } = this
    if (store !== undefined && result !== undefined && context.applied.reserves) {
      const rules = context.applied.rules
      // A call that could not be estimated may still report its usage in the response (the model
      // taken from it): its token and dollar rules are kept at zero, to be charged then.
      const unestimated = context.llm === undefined && carriesBody(context.request.method)
      for (let i = 0; i < rules.length; i++) {
        const measure = rules[i].measure
        const check = context.checks[i]
        if (measure === 'requests' || (check.cost === 0 && !(unestimated && measure !== 'concurrent')))
          continue
        reserved.push({ check, window: result.results[i].window, measure })
      }
    }
    this.reserved = reserved
    return reserved
  }

  private async settle(
    deltaOf: (measure: Measure, reserved: number) => number,
    usage: Usage | undefined,
    cost: number,
  ): Promise<void> {
    const adjustments: StoreAdjustment[] = []
    for (const { check, window, measure } of this.reservations()) {
      const delta = measure === 'concurrent' ? -1 : deltaOf(measure, check.cost)
      if (delta !== 0) adjustments.push({ check, window, delta })
    }
    if (adjustments.length > 0 && this.store) {
      try {
        await this.store.adjust(adjustments, this.context)
      } catch (error) {
        // Settling is best effort: leases expire and windows roll over even when the store is down.
        this.settler?.failed(error, this.store)
      }
    }
    this.settler?.settled(this, usage, cost)
  }
}

/** Methods whose requests can be LLM calls (never GET, HEAD, OPTIONS or DELETE). */
function carriesBody(method: string): boolean {
  const upper = method.toUpperCase()
  return upper === 'POST' || upper === 'PUT' || upper === 'PATCH'
}

// `check()` resolves a promise with the decision, and resolving looks up `then` on it. Without this
// non-enumerable `undefined`, that lookup searches the instance, every getter above and
// Object.prototype before giving up: about 15 ns of each check. A decision is still no thenable.
Object.defineProperty(LimitDecision.prototype, 'then', { value: undefined })
