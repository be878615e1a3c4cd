import { configError } from '../errors.js'
import type { Store, StoreCheck } from '../store/store.js'
import type { Identity, LimitRequest, Measure } from '../types.js'
import { NO_ESTIMATE } from './attempt.js'
import type { AttemptResolver } from './attempt-resolver.js'
import { type CompiledRule, limitUnits } from './compile-rule.js'
import type { ControlsReader } from './controls.js'
import { groupOf, identityGroups } from './identity-key.js'
import type { LimitResolver } from './limit-resolver.js'
import { RuleSet } from './rule-set.js'

/** One rule's state for an identity, in the rule's own units (USD for cost rules), read without charging. */
export interface PeekedRule {
  /** Rule name. */
  name: string
  /** What the rule measures. */
  measure: Measure
  /** The limit that applies to this identity now (override, limit function or constant). */
  limit: number
  /** Amount used in the current window (leases held, for concurrency rules). */
  used: number
  /** What is left (for a token bucket: what may be taken at once now). */
  remaining: number
  /** Milliseconds until the rule is fully replenished. */
  resetMs: number
  /** Epoch ms (store clock) when the rule is fully replenished. */
  resetAt: number
  /** Window length in ms (0 for calendar rules; the lease TTL for concurrency). */
  windowMs: number
  /** Where the limit comes from. */
  source: 'rule' | 'function' | 'override'
}

/** Options of `limiter.block()`. */
export interface BlockOptions {
  /** How long the block lasts. */
  ms: number
  /** Told to the blocked caller in the error body. */
  reason: string
  /** HTTP status of the refusal. @default 403 */
  status?: 403 | 429
}

/** A limit no amount reaches (exact in every store's integer arithmetic). */
const OPEN = 2 ** 47

/** What the operator's API needs from its limiter; `resolver` changes with `updateRules`. */
export interface OperatorContext {
  readonly store: Store
  readonly resolver: () => AttemptResolver
  readonly limits: () => LimitResolver
  readonly controls: ControlsReader
}

/**
 * The operator's API: inspect, reset, adjust, override and block an identity, through the store so every
 * process of a fleet agrees. Rules are the ones a request of this identity meets (global rules and its plan's).
 */
export class OperatorApi {
  constructor(private readonly context: OperatorContext) {}

  /** Each applicable rule's limit, used, remaining and reset, without charging anything. */
  async peek(identity: Identity): Promise<PeekedRule[]> {
    const store = this.need('peek')
    const { set, request, sources } = await this.effective(identity)
    if (set.rules.length === 0) return []
    // Read with a limit no amount reaches, a window's count comes back whole, even past the limit (an override
    // lowered, a penalty added); a token bucket has no count, only what it can give now.
    const checks = this.checksOf(set, identity, request).map((check) =>
      check.algorithm === 'token-bucket' ? check : { ...check, limit: OPEN, burst: OPEN },
    )
    const result = await store(checks)
    return set.rules.map((rule, i) => {
      const out = result.results[i]
      const bucket = rule.algorithm === 'token-bucket'
      const used = bucket ? Math.max(0, rule.burst - out.remaining) : OPEN - out.remaining
      const remaining = bucket ? out.remaining : Math.max(0, rule.limit - used)
      return {
        name: rule.name,
        measure: rule.measure,
        limit: rule.limit / rule.scale,
        used: used / rule.scale,
        remaining: remaining / rule.scale,
        resetMs: Math.max(0, out.resetAt - result.now),
        resetAt: out.resetAt,
        windowMs: rule.windowMs,
        source: sources[i],
      }
    })
  }

  /** Forgets an identity's counters: of one rule, or of all its rules. */
  async reset(identity: Identity, rule?: string): Promise<void> {
    const forget = this.need('forget')
    const { set, request } = await this.effective(identity)
    const checks = this.checksOf(set, identity, request).filter(
      (check) => rule === undefined || check.rule === rule,
    )
    if (rule !== undefined && checks.length === 0) this.unknownRule(rule, set)
    await forget(checks)
  }

  /** Adds `amount` (the rule's units; negative refunds) to the identity's current window of `rule`, exactly. */
  async adjust(identity: Identity, rule: string, amount: number): Promise<void> {
    const add = this.need('add')
    if (typeof amount !== 'number' || !Number.isFinite(amount)) {
      configError(
        `Expected \`adjust(identity, rule, amount)\` amount to be a finite number, got ${String(amount)}.`,
      )
    }
    const { set, request } = await this.effective(identity)
    const index = this.indexOf(set, rule)
    const compiled = set.rules[index]
    if (compiled.measure === 'concurrent') {
      configError(
        `Rule '${rule}' counts concurrent calls, which cannot be adjusted; use reset() to drop its leases.`,
      )
    }
    const check = this.checksOf(set, identity, request)[index]
    await add([check], [Math.round(amount * compiled.scale)])
  }

  /** Stores a limit (the rule's units) for this identity that beats limit functions and plans, in every process. */
  async setLimit(identity: Identity, rule: string, value: number | undefined): Promise<void> {
    const write = this.need('writeControl')
    this.needControls()
    const { set, request } = await this.effective(identity, false)
    const compiled = set.rules[this.indexOf(set, rule)]
    const units =
      value === undefined ? undefined : limitUnits(compiled, value, `setLimit(identity, '${rule}', value)`)
    await write(groupOf(compiled, identity, request, undefined), { kind: 'limit', rule, value: units })
  }

  /** Blocks the identity (its user, else API key, else IP) for `ms`, with a reason, in every process. */
  async block(identity: Identity, options: BlockOptions): Promise<void> {
    const write = this.need('writeControl')
    this.needControls()
    const { ms, reason, status = 403 } = options ?? ({} as BlockOptions)
    if (typeof ms !== 'number' || !(ms > 0) || !Number.isFinite(ms)) {
      configError(
        `Expected \`block(identity, { ms })\` to be a positive number of milliseconds, got ${String(ms)}.`,
      )
    }
    if (typeof reason !== 'string' || reason.length === 0 || reason.length > 500) {
      configError(
        'Expected `block(identity, { reason })` to be a non-empty string of at most 500 characters.',
      )
    }
    if (status !== 403 && status !== 429)
      configError(`Expected \`block(identity, { status })\` to be 403 or 429.`)
    await write(this.ownGroup(identity), { kind: 'block', block: { ms, reason, status } })
  }

  /** Lifts a block set with `block()`. */
  async unblock(identity: Identity): Promise<void> {
    const write = this.need('writeControl')
    await write(this.ownGroup(identity), { kind: 'block', block: undefined })
  }

  /** The rules of this identity with the limits a decision would apply now, and where each limit came from. */
  private async effective(
    identity: Identity,
    resolve = true,
  ): Promise<{ set: RuleSet; request: LimitRequest; sources: PeekedRule['source'][] }> {
    if (typeof identity !== 'object' || identity === null) {
      configError(
        'Expected an identity object such as { user: "alice" }, { apiKey: hashApiKey(key) } or { ip }.',
      )
    }
    const request: LimitRequest = {
      method: 'POST',
      path: '/',
      headers: {},
      ip: identity.ip,
      user: identity.user,
    }
    const copy: Identity = { ...identity }
    const attempt = this.context.resolver().resolve(request, copy)
    let set = attempt?.rules ?? RuleSet.EMPTY
    const sources: PeekedRule['source'][] = set.rules.map((rule) => (rule.resolveLimit ? 'function' : 'rule'))
    if (!resolve) return { set, request, sources }
    const controls = await this.context.controls.read(set, copy, request, undefined)
    const overrides = controls?.limits
    if (set.dynamic) {
      const resolved = await this.context.limits().resolve(set, copy, request, undefined)
      if (resolved instanceof RuleSet) set = resolved
    }
    if (overrides !== undefined) {
      set = set.withLimits(set.rules.map((rule, i) => overrides[i] ?? rule.limit))
      overrides.forEach((value, i) => {
        if (value !== undefined) sources[i] = 'override'
      })
    }
    return { set, request, sources }
  }

  private checksOf(set: RuleSet, identity: Identity, request: LimitRequest): StoreCheck[] {
    return set.checks(identity, request, NO_ESTIMATE).map((check) => ({ ...check, cost: 0, slot: undefined }))
  }

  private indexOf(set: RuleSet, rule: string): number {
    const index = set.rules.findIndex((compiled: CompiledRule) => compiled.name === rule)
    if (index < 0) this.unknownRule(rule, set)
    return index
  }

  private unknownRule(rule: string, set: RuleSet): never {
    configError(
      `No rule named '${rule}' applies to this identity; its rules are: ${set.rules.map((compiled) => compiled.name).join(', ') || 'none'}.`,
    )
  }

  private ownGroup(identity: Identity): string {
    const groups = typeof identity === 'object' && identity !== null ? identityGroups(identity) : []
    if (groups.length === 0)
      configError('Expected an identity with a user, an apiKey (hashed) or an ip to block.')
    return groups[0]
  }

  private needControls(): void {
    if (!this.context.controls.active) {
      configError(
        `The store '${this.context.store.name}' is read for overrides and blocks only with \`controls: true\` in the limiter options (one more store call per decision); set it in every process that shares the store.`,
      )
    }
  }

  private need<Name extends 'peek' | 'forget' | 'add' | 'writeControl'>(
    name: Name,
  ): NonNullable<Store[Name]> {
    const store = this.context.store
    const method = store[name]
    if (typeof method !== 'function') {
      configError(
        `The store '${store.name}' does not support ${name}(), which the operator's API needs; use memoryStore() or redisStore().`,
      )
    }
    return method.bind(store) as NonNullable<Store[Name]>
  }
}
