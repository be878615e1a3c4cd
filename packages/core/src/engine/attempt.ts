import { randomBytes } from 'node:crypto'
import type { LlmRequest } from '../llm/index.js'
import type { Store, StoreCheck } from '../store/store.js'
import type { Estimate, Identity, LimitRequest } from '../types.js'
import type { DecisionContext } from './decision.js'
import type { Priority } from './options.js'
import type { CompiledPlan } from './resolve-options.js'
import { RuleSet } from './rule-set.js'
import type { Verdict } from './verdict.js'

/** The estimate of a request that is not an LLM call. */
export const NO_ESTIMATE: Estimate = Object.freeze({
  model: undefined,
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
  costMicroUsd: 0,
})
const NO_CHECKS: readonly StoreCheck[] = Object.freeze([])
/**
 * Random per process, made on first use: Cloudflare Workers refuse random values at module scope,
 * where this file is evaluated.
 */
let processId: string | undefined
let sequence = 0

/**
 * One try at admitting a request: who asks, on which plan, under which rules, for how much. The
 * resolver fills it in step by step; it is also the decision's context and the store's request
 * context, so one object carries a request from identity to verdict.
 */
export class Attempt implements DecisionContext {
  plan: CompiledPlan | undefined = undefined
  /** Every rule of the request's route and plan. */
  rules: RuleSet = RuleSet.EMPTY
  llm: LlmRequest | undefined = undefined
  estimate: Estimate = NO_ESTIMATE
  downgradedFrom: string | undefined = undefined
  /** Set when the request is refused before any rule is counted. */
  refusal: Verdict | undefined = undefined
  /** The rules that count the request's model, set when it is admitted. */
  applied: RuleSet = RuleSet.EMPTY
  /** One check per applied rule. */
  checks: readonly StoreCheck[] = NO_CHECKS
  /** The store clock's time when the decision read it before the store (see `StoreContext.now`). */
  now: number | undefined = undefined
  /** The store whose clock gave `now`. */
  clockOwner: Store | undefined = undefined
  private readonly sequence = ++sequence
  private id: string | undefined = undefined

  constructor(
    readonly request: LimitRequest,
    readonly identity: Identity,
    readonly shadow: boolean,
  ) {}

  /** The decision's id, made only when a store reads it (Redis always; memory only for leases). */
  get requestId(): string {
    if (this.id === undefined) {
      processId ??= randomBytes(6).toString('base64url')
      this.id = processId + this.sequence.toString(36)
    }
    return this.id
  }

  get priority(): Priority {
    return this.plan?.priority ?? 'normal'
  }

  /** The same request on a cheaper model: a new try with its own id and estimate. */
  downgrade(llm: LlmRequest, estimate: Estimate): Attempt {
    const retry = new Attempt(this.request, this.identity, this.shadow)
    retry.plan = this.plan
    retry.rules = this.rules
    retry.llm = llm
    retry.estimate = estimate
    retry.downgradedFrom = this.llm?.model
    return retry
  }
}
