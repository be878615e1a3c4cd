import { randomBytes } from 'node:crypto'
import { configError } from '../errors.js'
import { createIdentifier, type IdentityResult } from '../identity/index.js'
import { createEstimator, type Estimator, type LlmRequest, parseLlmRequest } from '../llm/index.js'
import { memoryStore } from '../store/memory-store.js'
import type { ConsumeResult, Store, StoreCheck, StoreContext } from '../store/store.js'
import type { Estimate, Identity, LimitRequest, Reason, RuleState } from '../types.js'
import { amountOf } from './amount.js'
import type { CompiledRule } from './compile-rule.js'
import {
  allowedVerdict,
  type Decision,
  type DecisionContext,
  LimitDecision,
  type Reservation,
  type Settler,
  type Verdict,
} from './decision.js'
import { denialMessage, reasonOf } from './explain.js'
import { identityKey, modelMatches } from './identity-key.js'
import type { LimiterOptions, Priority } from './options.js'
import {
  assertUniqueNames,
  type CompiledPlan,
  type CompiledRoute,
  compilePlans,
  compileRoutes,
  compileRules,
  DEFAULT_RULES,
  matchRoute,
  positiveInteger,
} from './resolve-options.js'
import { type GuardedResult, StoreGuard } from './store-guard.js'
import { WaitQueue } from './wait-queue.js'

/** A configured limiter: one `check()` per request. */
export interface Limiter {
  /** Identifies, estimates and admits or denies one request; never throws for over-limit. */
  check(request: LimitRequest): Promise<Decision>
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
}

const NO_ESTIMATE: Estimate = Object.freeze({
  model: undefined,
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
  costMicroUsd: 0,
})
const NONE: readonly Reservation[] = Object.freeze([])
/** The context of decisions that never reach a store. */
const NO_REQUEST: StoreContext = Object.freeze({ requestId: '' })
const PROCESS_ID = randomBytes(6).toString('base64url')
let sequence = 0

/**
 * Creates a limiter from one options object, validated once here.
 * @example
 * const limiter = createLimiter({ rules: [{ by: 'user', tokens: 100_000, per: '1m' }] })
 * const decision = await limiter.check({ method: 'POST', path: '/v1/chat/completions', headers, ip, body })
 */
export function createLimiter(options: LimiterOptions = {}): Limiter {
  return new LimiterImpl(options)
}

class LimiterImpl implements Limiter {
  readonly store: Store
  readonly estimator: Estimator
  private readonly rules: readonly CompiledRule[]
  private readonly plans: Map<string, CompiledPlan>
  private readonly routes: readonly CompiledRoute[]
  private readonly identify: (request: LimitRequest) => IdentityResult | Promise<IdentityResult>
  private readonly guard: StoreGuard
  private readonly settler: Settler
  private readonly shadow: boolean
  private readonly queue: WaitQueue | undefined
  /** Moving average of how long concurrency leases are held, to predict when one frees up. */
  private leaseMs = 1000

  constructor(readonly options: LimiterOptions) {
    const leaseTtlMs = positiveInteger(options.leaseTtlMs, 600_000, 'leaseTtlMs')
    if (options.mode !== undefined && options.mode !== 'enforce' && options.mode !== 'shadow') {
      configError(`Expected \`mode\` to be 'enforce' or 'shadow', got ${JSON.stringify(options.mode)}.`)
    }
    const policy = options.onStoreError ?? 'fail-closed'
    if (
      policy !== 'fail-open' &&
      policy !== 'fail-closed' &&
      !(typeof policy === 'object' && policy?.insurance)
    ) {
      configError(
        `Expected \`onStoreError\` to be 'fail-open', 'fail-closed' or { insurance: memoryStore() }, got ${JSON.stringify(policy)}.`,
      )
    }
    this.shadow = options.mode === 'shadow'
    this.rules = compileRules(options.rules ?? DEFAULT_RULES, 'rules', leaseTtlMs)
    this.plans = compilePlans(options.plans, leaseTtlMs)
    this.routes = compileRoutes(options.routes, leaseTtlMs)
    for (const plan of this.plans.values()) {
      assertUniqueNames([...this.rules, ...plan.rules], `rules and plans.${plan.name}.rules`)
      for (const route of this.routes)
        if (route.rules)
          assertUniqueNames([...route.rules, ...plan.rules], `routes and plans.${plan.name}.rules`)
    }
    if (options.downgrade !== undefined) {
      for (const [from, to] of Object.entries(options.downgrade)) {
        if (typeof to !== 'string' || to === from)
          configError(`Expected \`downgrade['${from}']\` to name a different, cheaper model.`)
      }
    }
    this.queue = resolveQueue(options.queue)
    this.identify = createIdentifier(options.identify ?? {})
    this.estimator = createEstimator({
      tokenizer: options.tokenizer,
      prices: options.prices,
      defaultOutputTokens: options.defaultOutputTokens,
    })
    this.store = options.store ?? memoryStore()
    const events = options.events ?? {}
    this.guard = new StoreGuard(this.store, policy, (error, store) => events.onStoreError?.(error, store))
    this.settler = {
      costMicroUsd: (model, usage) => this.estimator.cost(model, usage),
      settled: (decision, usage, costMicroUsd) => {
        if ((decision as LimitDecision).createdAt > 0) this.observeLease(decision)
        events.onCommit?.({ decision, usage, costMicroUsd })
      },
      failed: (error, store) => events.onStoreError?.(error, store),
    }
  }

  check(request: LimitRequest): Promise<Decision> {
    const decided = this.checkOnce(request)
    const queue = this.queue
    if (queue === undefined) return decided
    return decided.then((decision) =>
      decision.allowed || !queue.accepts(decision)
        ? decision
        : queue.wait(decision, () => this.checkOnce(request)),
    )
  }

  /** Depth of the wait queue by priority (all zero without `queue`). */
  queueDepth(): Record<Priority, number> {
    return this.queue?.depth() ?? { critical: 0, high: 0, normal: 0, low: 0 }
  }

  private checkOnce(request: LimitRequest): Promise<Decision> {
    try {
      if (this.options.skip?.(request)) return Promise.resolve(this.skipped())
      const identified = this.identify(request)
      if (identified instanceof Promise) return identified.then((result) => this.decide(request, result))
      return this.decide(request, identified)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  async close(): Promise<void> {
    await this.store.close?.()
  }

  private decide(request: LimitRequest, identified: IdentityResult): Promise<Decision> {
    if ('error' in identified) {
      const { status, message } = identified.error
      return Promise.resolve(this.rejected({}, 'unauthorized', status, message, undefined, NO_ESTIMATE))
    }
    const identity = identified.identity
    const planName = this.planOf(identity, request)
    if (planName !== undefined) identity.plan = planName
    const plan = planName === undefined ? undefined : this.plans.get(planName)
    const route = this.routes.length === 0 ? undefined : matchRoute(this.routes, request.method, request.path)
    if (route?.skip) return Promise.resolve(this.skipped())
    const body = request.body
    const parsed = typeof body === 'object' && body !== null ? parseLlmRequest(body, request.path) : undefined
    if (parsed !== undefined && 'invalid' in parsed) {
      return Promise.resolve(
        this.rejected(identity, 'invalid_request', 400, parsed.invalid, undefined, NO_ESTIMATE, plan),
      )
    }
    const llm = parsed
    const estimate = llm ? this.estimator.estimate(llm) : NO_ESTIMATE
    if (llm && plan?.models && !modelMatches(plan.models, llm.model)) {
      const message = `Model '${llm.model}' is not available on plan '${plan.name}'. Allowed models: ${plan.models.join(', ')}.`
      return Promise.resolve(this.rejected(identity, 'model_not_allowed', 403, message, llm, estimate, plan))
    }
    if (llm && plan?.maxContextTokens !== undefined) {
      const asked = estimate.inputTokens + (llm.maxOutputTokens ?? 0)
      if (asked > plan.maxContextTokens) {
        const message = `This request needs ${asked} tokens (${estimate.inputTokens} input + ${llm.maxOutputTokens ?? 0} max output), but plan '${plan.name}' allows at most ${plan.maxContextTokens} per request. Shorten the messages or lower max_tokens.`
        return Promise.resolve(
          this.rejected(identity, 'context_length_exceeded', 400, message, llm, estimate, plan),
        )
      }
    }
    const base = route?.rules ?? this.rules
    const rules = plan && plan.rules.length > 0 ? [...base, ...plan.rules] : base
    return this.admit(request, identity, plan, rules, llm, estimate, undefined)
  }

  private admit(
    request: LimitRequest,
    identity: Identity,
    plan: CompiledPlan | undefined,
    rules: readonly CompiledRule[],
    llm: LlmRequest | undefined,
    estimate: Estimate,
    downgradedFrom: string | undefined,
  ): Promise<Decision> {
    const model = estimate.model
    // Most rule sets filter no model; then the rules that apply are exactly the rules given.
    const filtered = filtersModels(rules)
    const applied: CompiledRule[] = filtered ? [] : (rules as CompiledRule[])
    const checks: StoreCheck[] = []
    let lastBy: CompiledRule['by'] | undefined
    let lastGroup = ''
    for (const rule of rules) {
      if (filtered) {
        if (rule.models !== undefined && !modelMatches(rule.models, model)) continue
        applied.push(rule)
      }
      // Rules by the same identity share one group string, so stores hash it once.
      if (rule.by !== lastBy || typeof rule.by === 'function') {
        lastBy = rule.by
        lastGroup = identityKey(rule, identity, request)
      }
      const group = rule.perModel ? `${lastGroup}|m:${model ?? '-'}` : lastGroup
      checks.push({
        key: rule.keyPrefix + group,
        group,
        rule: rule.name,
        algorithm: rule.algorithm,
        limit: rule.limit,
        burst: rule.burst,
        windowMs: rule.windowMs,
        calendar: rule.calendar,
        cost: amountOf(rule.measure, estimate),
      })
    }
    const context = new RequestContext(++sequence)
    const fast = this.guard.consumeSync(checks, context)
    const guarded: GuardedResult | Promise<GuardedResult> =
      fast === undefined ? this.guard.consume(checks, context) : { store: this.store, result: fast }
    if (guarded instanceof Promise) {
      return guarded.then((outcome) =>
        this.conclude(
          outcome,
          request,
          identity,
          plan,
          rules,
          applied,
          checks,
          llm,
          estimate,
          context,
          downgradedFrom,
        ),
      )
    }
    const decision = this.conclude(
      guarded,
      request,
      identity,
      plan,
      rules,
      applied,
      checks,
      llm,
      estimate,
      context,
      downgradedFrom,
    )
    return decision instanceof Promise ? decision : Promise.resolve(decision)
  }

  /** Turns the store's answer into a decision, trying a cheaper model once when tokens or dollars ran out. */
  private conclude(
    outcome: GuardedResult,
    request: LimitRequest,
    identity: Identity,
    plan: CompiledPlan | undefined,
    rules: readonly CompiledRule[],
    applied: readonly CompiledRule[],
    checks: readonly StoreCheck[],
    llm: LlmRequest | undefined,
    estimate: Estimate,
    context: StoreContext,
    downgradedFrom: string | undefined,
  ): Decision | Promise<Decision> {
    const decision = this.decision(
      outcome,
      applied,
      checks,
      identity,
      plan,
      llm,
      estimate,
      context,
      downgradedFrom,
    )
    if (!decision.allowed || decision.wouldDeny) {
      const model = estimate.model
      const cheaper =
        model !== undefined && downgradedFrom === undefined ? this.options.downgrade?.[model] : undefined
      if (cheaper && llm && (decision.reason === 'tokens' || decision.reason === 'cost')) {
        return this.downgrade(request, identity, plan, rules, llm, cheaper, decision)
      }
    }
    this.report(decision)
    return decision
  }

  /** Tries the request again on a cheaper model; keeps the original denial when that does not fit either. */
  private async downgrade(
    request: LimitRequest,
    identity: Identity,
    plan: CompiledPlan | undefined,
    rules: readonly CompiledRule[],
    llm: LlmRequest,
    cheaper: string,
    denial: Decision,
  ): Promise<Decision> {
    const body = { ...llm.body, model: cheaper }
    const cheaperLlm: LlmRequest = { ...llm, model: cheaper, body }
    const retried = await this.admit(
      request,
      identity,
      plan,
      rules,
      cheaperLlm,
      this.estimator.estimate(cheaperLlm),
      llm.model,
    )
    if (!retried.allowed || retried.wouldDeny) {
      this.report(denial)
      return denial
    }
    // The handler reads the model from the body it was given, so the downgrade happens in place.
    if (typeof request.body === 'object' && request.body !== null)
      (request.body as Record<string, unknown>).model = cheaper
    return retried
  }

  private decision(
    outcome: GuardedResult,
    rules: readonly CompiledRule[],
    checks: readonly StoreCheck[],
    identity: Identity,
    plan: CompiledPlan | undefined,
    llm: LlmRequest | undefined,
    estimate: Estimate,
    request: StoreContext,
    downgradedFrom: string | undefined,
  ): LimitDecision {
    const priority: Priority = plan?.priority ?? 'normal'
    const context: DecisionContext = {
      identity,
      plan: plan?.name,
      priority,
      estimate,
      llm,
      downgradedFrom,
      shadow: this.shadow,
    }
    if (outcome.store === undefined) {
      if (outcome.failOpen)
        return new LimitDecision(context, allowedVerdict([]), [], undefined, request, undefined)
      const message =
        'The rate limiter cannot reach its store, so the request was refused (onStoreError: fail-closed). Retry shortly.'
      return this.denied(context, denial('store_error', 503, message, 1000, true, [], undefined), request)
    }
    const result: ConsumeResult = outcome.result
    const states: RuleState[] = new Array(rules.length)
    let denied: CompiledRule | undefined
    let deniedIndex = -1
    let retryAfterMs = 0
    let retryable = true
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]
      const out = result.results[i]
      const scale = rule.scale
      states[i] = {
        name: rule.name,
        measure: rule.measure,
        limit: rule.limit / scale,
        remaining: out.remaining / scale,
        resetMs: Math.max(0, Math.ceil(out.resetAt - result.now)),
        windowMs: rule.windowMs,
        denied: !out.allowed,
      }
      if (out.allowed) continue
      let wait = out.retryAfterMs
      if (wait >= 0 && rule.algorithm === 'concurrency') wait = Math.min(wait, this.leaseMs)
      if (wait < 0 || rule.calendar) retryable = false
      // All rules must admit, so the longest wait decides; a rule that can never admit decides outright.
      if (denied === undefined || (retryAfterMs >= 0 && (wait < 0 || wait > retryAfterMs))) {
        denied = rule
        deniedIndex = i
        retryAfterMs = wait
      }
    }
    if (denied === undefined) {
      let reservations: Reservation[] | undefined
      for (let i = 0; i < rules.length; i++) {
        const measure = rules[i].measure
        if (measure === 'requests' || checks[i].cost === 0) continue
        reservations ??= []
        reservations.push({ check: checks[i], window: result.results[i].window, measure })
      }
      return new LimitDecision(
        context,
        allowedVerdict(states),
        reservations ?? NONE,
        outcome.store,
        request,
        this.settler,
      )
    }
    const out = result.results[deniedIndex]
    const tooLarge = retryAfterMs < 0
    // For the rule that denied, "reset" means when a retry can succeed, so every header agrees with Retry-After.
    if (!tooLarge) states[deniedIndex].resetMs = Math.ceil(retryAfterMs)
    const message = denialMessage(
      denied,
      checks[deniedIndex].cost,
      out.remaining,
      tooLarge ? -1 : retryAfterMs,
    )
    const wait = tooLarge ? 0 : retryAfterMs
    const reason = tooLarge ? 'request_too_large' : reasonOf(denied)
    return this.denied(
      context,
      denial(reason, tooLarge ? 413 : 429, message, wait, retryable, states, denied.name),
      request,
    )
  }

  private denied(context: DecisionContext, verdict: Verdict, request: StoreContext): LimitDecision {
    return new LimitDecision(context, verdict, [], undefined, request, this.settler)
  }

  private rejected(
    identity: Identity,
    reason: Reason,
    status: number,
    message: string,
    llm: LlmRequest | undefined,
    estimate: Estimate,
    plan?: CompiledPlan,
  ): Decision {
    const context: DecisionContext = {
      identity,
      plan: plan?.name,
      priority: plan?.priority ?? 'normal',
      estimate,
      llm,
      downgradedFrom: undefined,
      shadow: this.shadow,
    }
    const decision = this.denied(
      context,
      denial(reason, status, message, 0, false, [], undefined),
      NO_REQUEST,
    )
    this.report(decision)
    return decision
  }

  private skipped(): Decision {
    const context: DecisionContext = {
      identity: {},
      plan: undefined,
      priority: 'normal',
      estimate: NO_ESTIMATE,
      llm: undefined,
      downgradedFrom: undefined,
      shadow: false,
    }
    return new LimitDecision(context, allowedVerdict([]), [], undefined, NO_REQUEST, undefined)
  }

  private planOf(identity: Identity, request: LimitRequest): string | undefined {
    const plan = this.options.plan
    if (plan === undefined) return identity.plan
    return typeof plan === 'function' ? plan(identity, request) : plan
  }

  private report(decision: Decision): void {
    const events = this.options.events
    if (events === undefined) return
    events.onDecision?.(decision)
    if (!decision.allowed || decision.wouldDeny) events.onDeny?.(decision)
  }

  private observeLease(decision: Decision): void {
    const held = Date.now() - (decision as LimitDecision).createdAt
    this.leaseMs = Math.max(1, Math.round(this.leaseMs * 0.8 + held * 0.2))
  }
}

/** A decision's id, made only when a store reads it (Redis always; memory only for leases). */
class RequestContext {
  private id: string | undefined
  constructor(private readonly sequence: number) {}
  get requestId(): string {
    this.id ??= PROCESS_ID + this.sequence.toString(36)
    return this.id
  }
}

const MODEL_FILTERS = new WeakMap<readonly CompiledRule[], boolean>()

/** Whether any rule of a list applies to some models only; lists are built once, so this is cached. */
function filtersModels(rules: readonly CompiledRule[]): boolean {
  let filters = MODEL_FILTERS.get(rules)
  if (filters === undefined) {
    filters = rules.some((rule) => rule.models !== undefined)
    MODEL_FILTERS.set(rules, filters)
  }
  return filters
}

function resolveQueue(options: LimiterOptions['queue']): WaitQueue | undefined {
  if (options === undefined) return undefined
  const maxSize = positiveInteger(options.maxSize, 1000, 'queue.maxSize')
  const caps = options.maxPerPriority ?? {}
  const cap = (priority: Priority) =>
    positiveInteger(caps[priority], maxSize, `queue.maxPerPriority.${priority}`)
  return new WaitQueue({
    maxWaitMs: positiveInteger(options.maxWaitMs, 1000, 'queue.maxWaitMs'),
    maxSize,
    maxPerPriority: { critical: cap('critical'), high: cap('high'), normal: cap('normal'), low: cap('low') },
  })
}

function denial(
  reason: Reason,
  status: number,
  message: string,
  retryAfterMs: number,
  retryable: boolean,
  rules: readonly RuleState[],
  rule: string | undefined,
): Verdict {
  return { allowed: false, reason, status, message, retryAfterMs, retryable, rules, rule }
}
