import { configError } from '../errors.js'
import { createIdentifier, type IdentityResult } from '../identity/index.js'
import { createEstimator, type Estimator } from '../llm/index.js'
import { memoryStore } from '../store/memory-store.js'
import type { Store } from '../store/store.js'
import type { Identity, LimitRequest, Rule } from '../types.js'
import { Admission } from './admission.js'
import { Attempt } from './attempt.js'
import { AttemptResolver } from './attempt-resolver.js'
import { ControlsReader } from './controls.js'
import { type Decision, LimitDecision, type Settler } from './decision.js'
import { isolateEvents } from './isolate-events.js'
import { LimitResolver } from './limit-resolver.js'
import { type LimiterConfig, resolveLimiterConfig } from './limiter-config.js'
import { type BlockOptions, OperatorApi, type PeekedRule } from './operator.js'
import type { LimiterEvents, LimiterOptions, Priority } from './options.js'
import { StoreGuard } from './store-guard.js'
import { ThresholdWatcher } from './thresholds.js'
import { refusal, STORE_UNAVAILABLE, UNCOUNTED, type Verdict } from './verdict.js'
import type { WaitQueue } from './wait-queue.js'

/** A configured limiter: one `check()` per request. */
export interface Limiter {
  /** Identifies, estimates and admits or denies one request; never throws for over-limit. */
  check(request: LimitRequest): Promise<Decision>
  /**
   * `check()`, but the decision itself when it was reached without waiting for anything (an
   * in-process store, no JWKS fetch, no queue); adapters use it to save a promise hop per request.
   */
  checkNow(request: LimitRequest): Decision | Promise<Decision>
  /** The options as resolved at construction. */
  readonly options: Readonly<LimiterOptions>
  /** The primary store. */
  readonly store: Store
  /** Token counting and pricing used for estimates and for reconciling streamed output. */
  readonly estimator: Estimator
  /** Depth of the wait queue by priority (all zero without `queue`). */
  queueDepth(): Record<Priority, number>
  /** Releases the store's resources. */
  close(): Promise<void>
  /** Each applicable rule's limit, used, remaining and reset for `identity`, in the rule's units, charging nothing. */
  peek(identity: Identity): Promise<PeekedRule[]>
  /** Forgets the identity's counters of `rule`, or of all its rules. */
  reset(identity: Identity, rule?: string): Promise<void>
  /** Adds `amount` (the rule's units; negative refunds) to the identity's current window of `rule`. */
  adjust(identity: Identity, rule: string, amount: number): Promise<void>
  /** Stores a limit for the identity (the rule's units) that beats limit functions and plans, in every process. */
  setLimit(identity: Identity, rule: string, value: number): Promise<void>
  /** Removes a limit set with `setLimit`. */
  clearLimit(identity: Identity, rule: string): Promise<void>
  /** Refuses the identity's requests (403, or 429 by option) with `reason` for `ms`, in every process. */
  block(identity: Identity, options: BlockOptions): Promise<void>
  /** Lifts a block. */
  unblock(identity: Identity): Promise<void>
  /** The caller's own limits and what is left of them, as a usage endpoint answers (nothing is charged). */
  usage(request: LimitRequest): Promise<UsageReport>
  /** Replaces the global rules without a restart; counters of rules whose name and measure did not change are kept. */
  updateRules(rules: Rule[]): void
}

/** What a usage endpoint answers: the caller's limits in their own units, or why the caller is unknown. */
export interface UsageReport {
  /** HTTP status: 200, or the identification error's (401, 503). */
  status: number
  /** The JSON body. */
  body:
    | { object: 'usage'; plan: string | null; limits: Omit<PeekedRule, 'source'>[] }
    | { error: { message: string; type: string; code: string } }
}

/**
 * Creates a limiter from one options object, validated once here.
 * @example
 * const limiter = createLimiter({ rules: [{ by: 'user', tokens: 100_000, per: '1m' }] })
 * const decision = await limiter.check({ method: 'POST', path: '/v1/chat/completions', headers, ip, body })
 */
export function createLimiter(options: LimiterOptions = {}): Limiter {
  return new LimiterImpl(options)
}

/** The flow of one request: identify, resolve, admit; each step lives in its own object. */
class LimiterImpl implements Limiter {
  readonly store: Store
  readonly estimator: Estimator
  private readonly identify: (request: LimitRequest) => IdentityResult | Promise<IdentityResult>
  private resolver: AttemptResolver
  private config: LimiterConfig
  private readonly operator: OperatorApi
  private readonly limits: LimitResolver
  private readonly admission: Admission
  private readonly settler: Settler
  private readonly shadow: boolean
  private readonly queue: WaitQueue | undefined
  private readonly events: LimiterEvents
  /** Some event hook wants decisions reported. */
  private readonly reports: boolean

  constructor(readonly options: LimiterOptions) {
    const config = resolveLimiterConfig(options)
    this.config = config
    this.shadow = config.shadow
    this.queue = config.queue
    this.identify = createIdentifier(options.identify ?? {})
    this.estimator = createEstimator({
      tokenizer: options.tokenizer,
      prices: options.prices,
      pricing: options.pricing,
      defaultOutputTokens: options.defaultOutputTokens,
    })
    this.store = options.store ?? memoryStore()
    const events = isolateEvents(options.events ?? {})
    this.events = events
    this.reports = events.onDecision !== undefined || events.onDeny !== undefined
    const estimator = this.estimator
    this.resolver = new AttemptResolver({ ...config, plan: options.plan, estimator })
    this.settler = {
      costMicroUsd: (model, usage) => estimator.cost(model, usage),
      settled: (decision, usage, costMicroUsd) => {
        this.admission.observeLease(decision as LimitDecision)
        events.onCommit?.({ decision, usage, costMicroUsd })
      },
      failed: (error, store) => events.onStoreError?.(error, store),
    }
    this.limits = new LimitResolver(
      options.limitResolver ?? {},
      (event) => events.onLimitError?.(event),
      this.store.clock !== undefined ? this.store : undefined,
    )
    const controls = new ControlsReader(this.store, options.controls === true)
    this.admission = new Admission({
      guard: new StoreGuard(this.store, config.policy, (error, store) => events.onStoreError?.(error, store)),
      estimator,
      downgrade: options.downgrade,
      report: (decision) => this.report(decision),
      settler: this.settler,
      limits: this.limits,
      controls: controls.active ? controls : undefined,
      failed: (error) => events.onStoreError?.(error, this.store),
      thresholds:
        events.onThreshold === undefined
          ? undefined
          : new ThresholdWatcher(
              options.thresholds,
              this.store,
              (event) => events.onThreshold?.(event),
              (error) => events.onStoreError?.(error, this.store),
            ),
    })
    this.operator = new OperatorApi({
      store: this.store,
      resolver: () => this.resolver,
      limits: () => this.limits,
      controls,
    })
  }

  check(request: LimitRequest): Promise<Decision> {
    try {
      const decided = this.checkNow(request)
      return decided instanceof Promise ? decided : Promise.resolve(decided)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  checkNow(request: LimitRequest): Decision | Promise<Decision> {
    const decided = this.checkOnce(request)
    const queue = this.queue
    // The closures live in their own method: V8 makes the variables they capture a heap context on
    // every call of the function that declares them, even one that returns before reaching them (80 bytes a check).
    return queue === undefined ? decided : this.queued(request, decided, queue)
  }

  /** A denial the wait queue accepts waits there for room, then the request is tried again. */
  private queued(
    request: LimitRequest,
    decided: Decision | Promise<Decision>,
    queue: WaitQueue,
  ): Decision | Promise<Decision> {
    const retry = (): Promise<Decision> => {
      try {
        return Promise.resolve(this.checkOnce(request))
      } catch (error) {
        // A retry runs from a timer: a throw must become a rejection, never an uncaught exception.
        return Promise.reject(error)
      }
    }
    const waitIfQueued = (decision: Decision) =>
      decision.allowed || !queue.accepts(decision) ? decision : queue.wait(decision, retry)
    return decided instanceof Promise ? decided.then(waitIfQueued) : waitIfQueued(decided)
  }

  /** Depth of the wait queue by priority (all zero without `queue`). */
  queueDepth(): Record<Priority, number> {
    return this.queue?.depth() ?? { critical: 0, high: 0, normal: 0, low: 0 }
  }

  async close(): Promise<void> {
    await this.store.close?.()
  }

  peek(identity: Identity): Promise<PeekedRule[]> {
    return this.operator.peek(identity)
  }

  reset(identity: Identity, rule?: string): Promise<void> {
    return this.operator.reset(identity, rule)
  }

  adjust(identity: Identity, rule: string, amount: number): Promise<void> {
    return this.operator.adjust(identity, rule, amount)
  }

  setLimit(identity: Identity, rule: string, value: number): Promise<void> {
    if (typeof value !== 'number') {
      return Promise.reject(
        new TypeError(
          `Expected setLimit(identity, '${rule}', value) to get a number; use clearLimit() to remove one.`,
        ),
      )
    }
    return this.operator.setLimit(identity, rule, value)
  }

  clearLimit(identity: Identity, rule: string): Promise<void> {
    return this.operator.setLimit(identity, rule, undefined)
  }

  block(identity: Identity, options: BlockOptions): Promise<void> {
    return this.operator.block(identity, options)
  }

  unblock(identity: Identity): Promise<void> {
    return this.operator.unblock(identity)
  }

  async usage(request: LimitRequest): Promise<UsageReport> {
    const identified = await this.identify(request)
    if ('error' in identified) {
      const { status, message } = identified.error
      return { status, body: { error: { message, type: 'invalid_request_error', code: 'unauthorized' } } }
    }
    const identity = identified.identity
    const rules = await this.operator.peek(identity)
    return {
      status: 200,
      body: {
        object: 'usage',
        plan: identity.plan ?? null,
        limits: rules.map(({ source: _, ...rule }) => rule),
      },
    }
  }

  updateRules(rules: Rule[]): void {
    const config = resolveLimiterConfig({ ...this.options, rules })
    const before = new Map(this.config.rules.rules.map((rule) => [rule.name, rule.measure]))
    for (const rule of config.rules.rules) {
      const measure = before.get(rule.name)
      if (measure !== undefined && measure !== rule.measure) {
        configError(
          `updateRules: rule '${rule.name}' measured ${measure} and now measures ${rule.measure}; counters are kept by name, so give the changed rule a new name.`,
        )
      }
    }
    this.config = config
    this.resolver = new AttemptResolver({ ...config, plan: this.options.plan, estimator: this.estimator })
  }

  private checkOnce(request: LimitRequest): Decision | Promise<Decision> {
    if (this.options.skip?.(request)) return skipped(request)
    const identified = this.identify(request)
    if (identified instanceof Promise) return identified.then((result) => this.decide(request, result))
    return this.decide(request, identified)
  }

  private decide(request: LimitRequest, identified: IdentityResult): Decision | Promise<Decision> {
    if ('error' in identified) {
      const { status, message } = identified.error
      // A key that could not be looked up is a backing service down, like the store: retry shortly.
      const verdict =
        status === 503 ? { ...STORE_UNAVAILABLE, message } : refusal('unauthorized', status, message)
      return this.refused(new Attempt(request, {}, this.shadow), verdict)
    }
    const attempt = this.resolver.resolve(request, identified.identity)
    if (attempt === undefined) return skipped(request)
    if (attempt.refusal !== undefined) return this.refused(attempt, attempt.refusal)
    return this.admission.admit(attempt)
  }

  private refused(attempt: Attempt, verdict: Verdict): Decision {
    const decision = new LimitDecision(attempt, verdict, this.settler)
    this.report(decision)
    return decision
  }

  private report(decision: Decision): void {
    if (!this.reports) return
    const events = this.events
    events.onDecision?.(decision)
    if (!decision.allowed || decision.wouldDeny) events.onDeny?.(decision)
  }
}

/** The decision for a request the limiter leaves alone: no rules, never denied, even in shadow mode. */
function skipped(request: LimitRequest): Decision {
  return new LimitDecision(new Attempt(request, {}, false), UNCOUNTED, undefined)
}
