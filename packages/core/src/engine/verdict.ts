import type { ConsumeResult, StoreCheck } from '../store/store.js'
import type { Reason, RuleState } from '../types.js'
import { affordableOutput, type Fit, type Pricing, type Sized } from './affordable.js'
import type { CompiledRule } from './compile-rule.js'
import { denialMessage, reasonOf } from './explain.js'

/** The verdict part of a decision. */
export interface Verdict {
  readonly allowed: boolean
  readonly reason: Reason
  readonly status: number
  readonly message: string
  readonly retryAfterMs: number
  readonly retryable: boolean
  /** The rule states, or undefined when the decision derives them from the store's result on first read. */
  readonly rules: readonly RuleState[] | undefined
  readonly rule: string | undefined
  /** For a denial by output budgets: the output cap that fits now (0 when none does); otherwise undefined. */
  readonly fit: Fit | undefined
}

const NO_RULES: readonly RuleState[] = Object.freeze([])

/** The verdict of a request every rule admitted; its rule states come from the store's result. */
const ADMITTED: Verdict = Object.freeze({
  allowed: true,
  reason: 'ok',
  status: 200,
  message: '',
  retryAfterMs: 0,
  retryable: true,
  rules: undefined,
  rule: undefined,
  fit: undefined,
})

/** The verdict of a request no rule looked at (skipped, or let through when the store failed). */
export const UNCOUNTED: Verdict = Object.freeze({ ...ADMITTED, rules: NO_RULES })

const STORE_DOWN =
  'The rate limiter cannot reach its store, so the request was refused (onStoreError: fail-closed). Retry shortly.'

/** The verdict when the store failed and the policy is fail-closed. */
export const STORE_UNAVAILABLE: Verdict = Object.freeze({
  allowed: false,
  reason: 'store_error',
  status: 503,
  message: STORE_DOWN,
  retryAfterMs: 1000,
  retryable: true,
  rules: NO_RULES,
  rule: undefined,
  fit: undefined,
})

/** A refusal before any rule is counted (bad credentials, model not on the plan, invalid body); retrying cannot help. */
export function refusal(reason: Reason, status: number, message: string): Verdict {
  return {
    allowed: false,
    reason,
    status,
    message,
    retryAfterMs: 0,
    retryable: false,
    rules: NO_RULES,
    rule: undefined,
    fit: undefined,
  }
}

/** The state of every rule after a store's answer, in user units. */
export function ruleStates(rules: readonly CompiledRule[], result: ConsumeResult): RuleState[] {
  const states: RuleState[] = new Array(rules.length)
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]
    const out = result.results[i]
    states[i] = {
      name: rule.name,
      measure: rule.measure,
      limit: rule.limit / rule.scale,
      remaining: out.remaining / rule.scale,
      resetMs: Math.max(0, Math.ceil(out.resetAt - result.now)),
      windowMs: rule.windowMs,
      denied: !out.allowed,
    }
  }
  return states
}

/**
 * Reads a store's answer: ADMITTED when every rule admitted, otherwise a denial by the rule with the
 * longest wait (all must admit), or outright by a rule the request can never fit.
 * `leaseMs` caps concurrency waits, since a lease is usually returned long before it expires;
 * `sized` and `pricing` let a denial by output budgets say which smaller output cap fits now.
 */
export function verdictOf(
  rules: readonly CompiledRule[],
  checks: readonly StoreCheck[],
  result: ConsumeResult,
  leaseMs: number,
  sized?: Sized,
  pricing?: Pricing,
): Verdict {
  if (result.allowed) return ADMITTED
  const results = result.results
  let deniedIndex = -1
  let retryAfterMs = 0
  let retryable = true
  for (let i = 0; i < rules.length; i++) {
    const out = results[i]
    if (out.allowed) continue
    const rule = rules[i]
    let wait = out.retryAfterMs
    if (wait >= 0 && rule.algorithm === 'concurrency') wait = Math.min(wait, leaseMs)
    if (wait < 0 || rule.calendar) retryable = false
    if (deniedIndex < 0 || (retryAfterMs >= 0 && (wait < 0 || wait > retryAfterMs))) {
      deniedIndex = i
      retryAfterMs = wait
    }
  }
  if (deniedIndex < 0) return ADMITTED
  return new StoreDenial(rules, checks, result, deniedIndex, retryAfterMs, retryable, sized, pricing)
}

/**
 * A denial by a rule: the message and rule states are built on first read, because a hammering
 * client is denied far more often than anyone reads why (a local deny cache answers in microseconds).
 */
class StoreDenial implements Verdict {
  readonly allowed = false
  readonly reason: Reason
  readonly status: number
  readonly retryAfterMs: number
  readonly rule: string
  private text: string | undefined
  private states: RuleState[] | undefined
  /** The fit, once computed; null when there is none to offer. */
  private offered: Fit | null | undefined = undefined

  constructor(
    private readonly compiled: readonly CompiledRule[],
    private readonly checks: readonly StoreCheck[],
    private readonly result: ConsumeResult,
    private readonly deniedIndex: number,
    private readonly wait: number,
    readonly retryable: boolean,
    private readonly sized: Sized | undefined,
    private readonly pricing: Pricing | undefined,
  ) {
    const denied = compiled[deniedIndex]
    const tooLarge = wait < 0
    this.reason = tooLarge ? 'request_too_large' : reasonOf(denied)
    this.status = tooLarge ? 413 : 429
    this.retryAfterMs = tooLarge ? 0 : wait
    this.rule = denied.name
  }

  get message(): string {
    const { compiled, deniedIndex } = this
    this.text ??= denialMessage(
      compiled[deniedIndex],
      this.checks[deniedIndex].cost,
      this.result.results[deniedIndex].remaining,
      this.wait,
      this.fit,
    )
    return this.text
  }

  get fit(): Fit | undefined {
    if (this.offered === undefined) {
      const { sized, pricing } = this
      this.offered =
        sized && pricing
          ? (affordableOutput(this.compiled, this.result.results, sized, pricing) ?? null)
          : null
    }
    return this.offered ?? undefined
  }

  get rules(): readonly RuleState[] {
    if (this.states === undefined) {
      this.states = ruleStates(this.compiled, this.result)
      // For the rule that denied, "reset" means when a retry can succeed, so every header agrees with Retry-After.
      if (this.wait >= 0) this.states[this.deniedIndex].resetMs = Math.ceil(this.wait)
    }
    return this.states
  }
}
