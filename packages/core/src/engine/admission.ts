import type { Estimator, LlmRequest } from '../llm/index.js'
import type { ConsumeResult, Store, StoreCheck } from '../store/store.js'
import type { Attempt } from './attempt.js'
import type { AppliedControls, ControlsReader } from './controls.js'
import { type Decision, LimitDecision, type Settler } from './decision.js'
import type { LimitResolver } from './limit-resolver.js'
import { RuleSet } from './rule-set.js'
import type { GuardedResult, StoreGuard } from './store-guard.js'
import type { ThresholdWatcher } from './thresholds.js'
import { refusal, STORE_UNAVAILABLE, UNCOUNTED, type Verdict, verdictOf } from './verdict.js'

/** What admission needs from its limiter. */
export interface AdmissionConfig {
  readonly guard: StoreGuard
  readonly estimator: Estimator
  /** Cheaper model by model, tried once when tokens or dollars ran out. */
  readonly downgrade: Readonly<Record<string, string>> | undefined
  readonly settler: Settler
  /** Resolves per-identity limit functions. */
  readonly limits: LimitResolver
  /** Reads the operator's overrides and blocks, when the store keeps them; undefined otherwise. */
  readonly controls: ControlsReader | undefined
  /** Tells the limiter's events that reading controls failed (the store's policy then decides). */
  readonly failed: (error: unknown) => void
  /** Reports usage crossing fractions of a limit, when `events.onThreshold` is set. */
  readonly thresholds: ThresholdWatcher | undefined
  /** Tells the limiter's events about a final decision. */
  readonly report: (decision: Decision) => void
}

/**
 * The admit step: all rules of an attempt in one all-or-nothing store call, read into a decision;
 * a request out of tokens or dollars is tried once more on a cheaper model when one is configured.
 */
export class Admission {
  /** Moving average of how long concurrency leases are held, to predict when one frees up. */
  private leaseMs = 1000

  constructor(private readonly config: AdmissionConfig) {}

  /** Admits or denies the attempt; synchronous when the store is (the memory store always is). */
  admit(attempt: Attempt): Decision | Promise<Decision> {
    const applied = attempt.rules.applying(attempt.estimate.model)
    const controls = this.config.controls
    if (controls !== undefined) {
      const read = controls.read(applied, attempt.identity, attempt.request, attempt.estimate.model)
      if (read instanceof Promise) {
        return read.then(
          (found) => this.admitControlled(attempt, applied, found),
          (error: unknown) => {
            // The consume that follows meets the same store, and its policy decides.
            this.config.failed(error)
            return this.admitControlled(attempt, applied, undefined)
          },
        )
      }
      if (read !== undefined) return this.admitControlled(attempt, applied, read)
    }
    if (applied.dynamic) return this.admitLimited(attempt, applied, undefined)
    return this.admitWith(attempt, applied)
  }

  /** Refuses a blocked caller; otherwise admits under the operator's overrides. */
  private admitControlled(
    attempt: Attempt,
    applied: RuleSet,
    controls: AppliedControls | undefined,
  ): Decision | Promise<Decision> {
    const block = controls?.block
    if (block !== undefined) {
      attempt.applied = RuleSet.EMPTY
      const message = `This caller is blocked by the operator: ${block.reason}`
      const verdict: Verdict =
        block.status === 429
          ? {
              ...refusal('blocked', 429, message),
              retryAfterMs: Math.max(1, block.untilMs - Date.now()),
              retryable: true,
            }
          : refusal('blocked', block.status, message)
      return this.finish(attempt, new LimitDecision(attempt, verdict, this.config.settler))
    }
    return this.admitLimited(attempt, applied, controls?.limits)
  }

  /** Admits under the caller's limits: an override beats a limit function, which beats the rule's constant. */
  private admitLimited(
    attempt: Attempt,
    applied: RuleSet,
    overrides: readonly (number | undefined)[] | undefined,
  ): Decision | Promise<Decision> {
    if (applied.dynamic && overrides === undefined) {
      // The common case: the resolver keeps the caller's checks with its limits.
      const refused = this.config.limits.prepare(applied, attempt)
      if (refused instanceof Promise) return refused.then((verdict) => this.admitPrepared(attempt, verdict))
      return this.admitPrepared(attempt, refused)
    }
    const covered =
      overrides !== undefined &&
      applied.rules.every((rule, i) => rule.resolveLimit === undefined || overrides[i] !== undefined)
    if (applied.dynamic && !covered) {
      const resolved = this.config.limits.resolve(
        applied,
        attempt.identity,
        attempt.request,
        attempt.estimate.model,
      )
      if (resolved instanceof Promise)
        return resolved.then((result) => this.admitResolved(attempt, overridden(result, overrides)))
      return this.admitResolved(attempt, overridden(resolved, overrides))
    }
    return this.admitWith(attempt, overridden(applied, overrides) as RuleSet)
  }

  /** Admits with the checks the resolver put on the attempt, or refuses with its 503. */
  private admitPrepared(attempt: Attempt, refused: Verdict | undefined): Decision | Promise<Decision> {
    if (refused !== undefined)
      return this.finish(attempt, new LimitDecision(attempt, refused, this.config.settler))
    return this.consume(attempt, attempt.checks)
  }

  /** Admits under the caller's resolved limits, or refuses with the resolver's 503. */
  private admitResolved(attempt: Attempt, resolved: RuleSet | Verdict): Decision | Promise<Decision> {
    if (resolved instanceof RuleSet) return this.admitWith(attempt, resolved)
    attempt.applied = RuleSet.EMPTY
    return this.finish(attempt, new LimitDecision(attempt, resolved, this.config.settler))
  }

  private admitWith(attempt: Attempt, applied: RuleSet): Decision | Promise<Decision> {
    attempt.applied = applied
    const checks = applied.checks(attempt.identity, attempt.request, attempt.estimate)
    attempt.checks = checks
    return this.consume(attempt, checks)
  }

  /** One all-or-nothing store call for the attempt's checks. */
  private consume(attempt: Attempt, checks: readonly StoreCheck[]): Decision | Promise<Decision> {
    const guard = this.config.guard
    const fast = guard.consumeSync(checks, attempt)
    if (fast !== undefined) return this.conclude(attempt, guard.primary, fast)
    const guarded = guard.consume(checks, attempt)
    if (guarded instanceof Promise) return guarded.then((outcome) => this.concludeGuarded(attempt, outcome))
    return this.concludeGuarded(attempt, guarded)
  }

  /** Learns how long a lease was held from a settled decision that took one. */
  observeLease(decision: LimitDecision): void {
    if (decision.createdAt === 0) return
    const held = Date.now() - decision.createdAt
    this.leaseMs = Math.max(1, Math.round(this.leaseMs * 0.8 + held * 0.2))
  }

  private concludeGuarded(attempt: Attempt, outcome: GuardedResult): Decision | Promise<Decision> {
    if (outcome.store !== undefined) return this.conclude(attempt, outcome.store, outcome.result)
    const decision = outcome.failOpen
      ? new LimitDecision(attempt, UNCOUNTED, undefined)
      : new LimitDecision(attempt, STORE_UNAVAILABLE, this.config.settler)
    return this.finish(attempt, decision)
  }

  private conclude(attempt: Attempt, store: Store, result: ConsumeResult): Decision | Promise<Decision> {
    const settler = this.config.settler
    const verdict = verdictOf(attempt.applied.rules, attempt.checks, result, this.leaseMs, attempt, settler)
    if (!verdict.allowed) return this.finish(attempt, new LimitDecision(attempt, verdict, settler))
    // Admitted by every rule: nothing to downgrade, so the decision is final.
    const decision = new LimitDecision(attempt, verdict, settler, store, result)
    if (this.config.thresholds !== undefined) this.config.thresholds.observe(attempt, result)
    this.config.report(decision)
    return decision
  }

  /** Reports the decision, unless a cheaper model may still be admitted. */
  private finish(attempt: Attempt, decision: Decision): Decision | Promise<Decision> {
    if (!decision.allowed || decision.wouldDeny) {
      const model = attempt.estimate.model
      const downgrade = this.config.downgrade
      const cheaper =
        model !== undefined && attempt.downgradedFrom === undefined ? downgrade?.[model] : undefined
      const llm = attempt.llm
      // Gemini names its model in the path, which a downgrade of the body cannot change.
      const rewritable = llm !== undefined && llm.api !== 'gemini-generate-content'
      if (cheaper && llm && rewritable && (decision.reason === 'tokens' || decision.reason === 'cost')) {
        return this.downgrade(attempt, llm, cheaper, decision)
      }
    }
    this.config.report(decision)
    return decision
  }

  /** Tries the request again on a cheaper model; keeps the original denial when that does not fit either. */
  private async downgrade(
    attempt: Attempt,
    llm: LlmRequest,
    cheaper: string,
    denial: Decision,
  ): Promise<Decision> {
    const cheaperLlm: LlmRequest = { ...llm, model: cheaper, body: { ...llm.body, model: cheaper } }
    const retried = await this.admit(
      attempt.downgrade(cheaperLlm, this.config.estimator.estimate(cheaperLlm)),
    )
    if (!retried.allowed || retried.wouldDeny) {
      this.config.report(denial)
      return denial
    }
    // The handler reads the model from the body it was given, so the downgrade happens in place.
    const body = attempt.request.body
    if (typeof body === 'object' && body !== null) (body as Record<string, unknown>).model = cheaper
    return retried
  }
}

/** `resolved` with the operator's overrides, when it is a rule set and there are any. */
function overridden(
  resolved: RuleSet | Verdict,
  overrides: readonly (number | undefined)[] | undefined,
): RuleSet | Verdict {
  if (overrides === undefined || !(resolved instanceof RuleSet)) return resolved
  return resolved.withLimits(resolved.rules.map((rule, i) => overrides[i] ?? rule.limit))
}
