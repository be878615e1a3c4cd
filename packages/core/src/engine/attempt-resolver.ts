import { type Estimator, type LlmRequest, parseLlmRequest, UnpricedModelError } from '../llm/index.js'
import type { Estimate, Identity, LimitRequest } from '../types.js'
import { Attempt } from './attempt.js'
import { modelMatches } from './identity-key.js'
import type { LimiterOptions } from './options.js'
import { type CompiledPlan, type CompiledRoute, matchRoute } from './resolve-options.js'
import { RuleSet } from './rule-set.js'
import { refusal } from './verdict.js'

/** What the resolver needs, all resolved once at construction. */
export interface ResolverConfig {
  readonly rules: RuleSet
  readonly plans: ReadonlyMap<string, CompiledPlan>
  readonly routes: readonly CompiledRoute[]
  readonly plan: LimiterOptions['plan']
  readonly estimator: Estimator
  readonly shadow: boolean
}

/**
 * The resolve and estimate steps: the caller's plan, the route's rules, the parsed LLM body and its
 * estimate. Requests that no rule could ever admit (invalid body, model not on the plan, context
 * too long) come back refused, before any counter is touched.
 */
export class AttemptResolver {
  private readonly routeRules = new Map<CompiledRoute, RuleSet>()

  constructor(private readonly config: ResolverConfig) {
    for (const route of config.routes) if (route.rules) this.routeRules.set(route, new RuleSet(route.rules))
  }

  /** The attempt to admit, or undefined when the route is skipped. */
  resolve(request: LimitRequest, identity: Identity): Attempt | undefined {
    const config = this.config
    const planName = this.planOf(identity, request)
    if (planName !== undefined) identity.plan = planName
    const plan = planName === undefined ? undefined : config.plans.get(planName)
    const route =
      config.routes.length === 0 ? undefined : matchRoute(config.routes, request.method, request.path)
    if (route?.skip) return undefined
    const attempt = new Attempt(request, identity, config.shadow)
    attempt.plan = plan
    const routeRules = route === undefined ? undefined : this.routeRules.get(route)
    attempt.rules = (routeRules ?? config.rules).withPlan(plan)
    if (request.body === undefined || !mayCarryLlmCall(request.method)) return attempt
    const llm = parseLlmRequest(request.body, request.path)
    if (llm === undefined) return attempt
    if ('invalid' in llm) {
      attempt.refusal = refusal('invalid_request', 400, llm.invalid)
      return attempt
    }
    attempt.llm = llm
    const estimate = estimateOf(config.estimator, llm)
    if (estimate === undefined || estimate instanceof UnpricedModelError) {
      attempt.refusal =
        estimate === undefined
          ? refusal('invalid_request', 400, TOO_DEEP)
          : refusal('model_not_allowed', 403, estimate.message)
      return attempt
    }
    attempt.estimate = estimate
    if (plan?.models && !modelMatches(plan.models, llm.model)) {
      const message = `Model '${llm.model}' is not available on plan '${plan.name}'. Allowed models: ${plan.models.join(', ')}.`
      attempt.refusal = refusal('model_not_allowed', 403, message)
    } else if (plan?.maxContextTokens !== undefined) {
      const asked = estimate.inputTokens + (llm.maxOutputTokens ?? 0)
      if (asked > plan.maxContextTokens) {
        const message = `This request needs ${asked} tokens (${estimate.inputTokens} input + ${llm.maxOutputTokens ?? 0} max output), but plan '${plan.name}' allows at most ${plan.maxContextTokens} per request. Shorten the messages or lower max_tokens.`
        attempt.refusal = refusal('context_length_exceeded', 400, message)
      }
    }
    return attempt
  }

  private planOf(identity: Identity, request: LimitRequest): string | undefined {
    const plan = this.config.plan
    if (plan === undefined) return identity.plan
    return typeof plan === 'function' ? plan(identity, request) : plan
  }
}

const TOO_DEEP =
  'The request body is nested too deeply to be counted. Send messages whose content is a string or a flat list of parts.'

/** The estimate; undefined when the body nests so deeply that counting it overflows the stack; the error of an unpriced model refused. */
function estimateOf(estimator: Estimator, llm: LlmRequest): Estimate | UnpricedModelError | undefined {
  try {
    return estimator.estimate(llm)
  } catch (error) {
    // JSON.parse builds what JSON.stringify and the counter cannot walk: `[[[…]]]` 100,000 deep.
    if (error instanceof RangeError) return undefined
    if (error instanceof UnpricedModelError) return error
    throw error
  }
}

/**
 * LLM APIs are called with POST; a GET of `/v1/chat/completions` lists stored completions, and some
 * body parsers leave `{}` on every request, so bodies of methods without one are never read as calls.
 */
function mayCarryLlmCall(method: string): boolean {
  switch (method.toUpperCase()) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'DELETE':
      return false
    default:
      return true
  }
}
