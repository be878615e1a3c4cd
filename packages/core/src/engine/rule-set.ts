import { BoundedCache, identityCapacity } from '../bounded-memo.js'
import { UNKNOWN_IP } from '../identity/normalize-ip.js'
import type { StoreCheck } from '../store/store.js'
import type { Estimate, Identity, LimitRequest } from '../types.js'
import { amountOf } from './amount.js'
import { type CompiledRule, withLimit } from './compile-rule.js'
import { groupOf, modelMatches } from './identity-key.js'
import type { CompiledPlan } from './resolve-options.js'

/** Rule lists longer than this are filtered by model without caching the subsets (a bit mask per subset). */
const MASK_BITS = 30
const NO_CHECKS: readonly StoreCheck[] = Object.freeze([])

/**
 * The rules that apply together to a request, compiled once. It builds the store checks of an
 * identity and keeps them: checks of requests and leases never change for an identity, so a
 * returning client costs a map lookup instead of a fresh set of keys and check objects.
 */
export class RuleSet {
  /** The set with no rules at all. */
  static readonly EMPTY = new RuleSet([])
  /** Some rule counts some models only, so the rules that apply depend on the request's model. */
  readonly filtersModels: boolean
  /** Some rule holds a concurrency lease, whose duration the limiter learns. */
  readonly leases: boolean
  /** Some rule reserves tokens, dollars or a lease, so admitted decisions may need settling. */
  readonly reserves: boolean
  /** Some rule's limit is a function of the identity, resolved per caller before admission. */
  readonly dynamic: boolean
  /** Rule `i` counts against a different group than rule `i - 1` (or may: functions, per-model keys). */
  private readonly starts: boolean[]
  private readonly parts: number
  /** Every rule counts the caller's IP alone, so the normalised IP itself finds the cached checks. */
  private readonly byIp: boolean
  /** Every rule takes the same amount on every request, so a cached array can be handed out as is. */
  readonly fixed: boolean
  private readonly cache = new BoundedCache<string, readonly StoreCheck[]>(identityCapacity)
  private readonly plans = new Map<CompiledPlan, RuleSet>()
  private readonly subsets = new Map<number, RuleSet>()
  /** This set with other limits, by the limits joined; few distinct tiers make few sets. */
  private readonly limited = new BoundedCache<string, RuleSet>(10_000)
  /** Resolved limits by identity, kept here by the limit resolver (engine use only). */
  limitCache: unknown = undefined

  constructor(readonly rules: readonly CompiledRule[]) {
    this.filtersModels = rules.some((rule) => rule.models !== undefined)
    this.leases = rules.some((rule) => rule.measure === 'concurrent')
    this.reserves = rules.some((rule) => rule.measure !== 'requests')
    this.dynamic = rules.some((rule) => rule.resolveLimit !== undefined)
    this.fixed = rules.every((rule) => hasFixedAmount(rule))
    this.starts = rules.map((rule, i) => {
      const previous = rules[i - 1]
      return (
        previous === undefined ||
        rule.by !== previous.by ||
        typeof rule.by === 'function' ||
        rule.perModel ||
        previous.perModel
      )
    })
    this.parts = this.starts.filter(Boolean).length
    this.byIp = this.parts === 1 && rules[0].by === 'ip' && !rules[0].perModel
  }

  /** This set followed by a plan's rules; built once per plan. */
  withPlan(plan: CompiledPlan | undefined): RuleSet {
    if (plan === undefined || plan.rules.length === 0) return this
    let combined = this.plans.get(plan)
    if (combined === undefined) {
      combined = new RuleSet([...this.rules, ...plan.rules])
      this.plans.set(plan, combined)
    }
    return combined
  }

  /**
   * This set with rule `i` limited to `limits[i]` (store units), as a set of constant rules with
   * its own cache of checks; the same limits give the same set.
   */
  withLimits(limits: readonly number[]): RuleSet {
    const key = limits.join(',')
    let set = this.limited.get(key)
    if (set === undefined) {
      set = new RuleSet(this.rules.map((rule, i) => withLimit(rule, limits[i])))
      this.limited.set(key, set)
    }
    return set
  }

  /** The rules that count `model` (a rule with `models` counts only those), as a set of their own. */
  applying(model: string | undefined): RuleSet {
    if (!this.filtersModels) return this
    const rules = this.rules
    let mask = 0
    const applied: CompiledRule[] = []
    for (let i = 0; i < rules.length; i++) {
      const models = rules[i].models
      if (models !== undefined && !modelMatches(models, model)) continue
      applied.push(rules[i])
      mask |= 1 << i
    }
    if (rules.length > MASK_BITS) return new RuleSet(applied)
    let subset = this.subsets.get(mask)
    if (subset === undefined) {
      subset = new RuleSet(applied)
      this.subsets.set(mask, subset)
    }
    return subset
  }

  /** One store check per rule, in order, charging what `estimate` says each rule's measure takes. */
  checks(identity: Identity, request: LimitRequest, estimate: Estimate): readonly StoreCheck[] {
    const rules = this.rules
    if (rules.length === 0) return NO_CHECKS
    const model = estimate.model
    let key: string
    let groups: string[] | undefined
    // By IP alone, the normalised IP finds the checks: the group string is made on a miss only.
    if (this.byIp) key = identity.ip ?? UNKNOWN_IP
    else if (this.parts === 1) key = groupOf(rules[0], identity, request, model)
    else {
      groups = []
      key = ''
      for (let i = 0; i < rules.length; i++) {
        if (!this.starts[i]) continue
        const group = groupOf(rules[i], identity, request, model)
        // A length prefix keeps keys unambiguous whatever characters a custom `by` returns.
        key = groups.length === 0 ? group : `${key.length}:${key}${group}`
        groups.push(group)
      }
    }
    let cached = this.cache.get(key)
    if (cached === undefined) {
      cached = this.build(groups ?? [this.byIp ? groupOf(rules[0], identity, request, model) : key])
      this.cache.set(key, cached)
    }
    return this.fixed ? cached : this.priced(cached, estimate)
  }

  private build(groups: readonly string[]): readonly StoreCheck[] {
    const checks: StoreCheck[] = []
    let part = -1
    for (let i = 0; i < this.rules.length; i++) {
      if (this.starts[i]) part++
      const rule = this.rules[i]
      checks.push(new RuleCheck(rule, groups[part], hasFixedAmount(rule) ? 1 : 0))
    }
    // Pushing leaves room for 17 checks; an identity's cached copy holds its own alone, so a check
    // reads one short array instead of one spread over three cache lines.
    return checks.slice()
  }

  /** A copy of checks of this set with this request's amounts, so a reservation keeps what it took. */
  priced(cached: readonly StoreCheck[], estimate: Estimate): readonly StoreCheck[] {
    const checks = cached.slice()
    for (let i = 0; i < checks.length; i++) {
      const rule = this.rules[i]
      if (!hasFixedAmount(rule))
        checks[i] = new RuleCheck(rule, checks[i].group, amountOf(rule.measure, estimate))
    }
    return checks
  }
}

/** Requests and leases take one unit each, whatever the request holds. */
function hasFixedAmount(rule: CompiledRule): boolean {
  return rule.measure === 'requests' || rule.measure === 'concurrent'
}

/**
 * A rule's check for one group. A class, not an object literal: the cached checks live long, so V8
 * would pretenure a literal's site, and the priced copies each request makes would then all be
 * allocated in the old generation (see store/outcome.ts).
 */
class RuleCheck implements StoreCheck {
  // The fields a store reads on every decision come first, next to the object's header, so they
  // span as few cache lines as they can.
  slot: unknown = undefined
  readonly algorithm: StoreCheck['algorithm']
  readonly cost: number
  readonly limit: number
  readonly burst: number
  readonly windowMs: number
  readonly calendar: StoreCheck['calendar']
  readonly timeZone: string | undefined
  readonly group: string
  readonly rule: string
  readonly key: string

  constructor(rule: CompiledRule, group: string, cost: number) {
    this.algorithm = rule.algorithm
    this.cost = cost
    this.limit = rule.limit
    this.burst = rule.burst
    this.windowMs = rule.windowMs
    this.calendar = rule.calendar
    this.timeZone = rule.timeZone
    this.group = group
    this.rule = rule.name
    this.key = rule.keyPrefix + group
  }
}
