import { BoundedCache } from '../bounded-memo.js'
import { configError, shown } from '../errors.js'
import type { Store, StoreCheck } from '../store/store.js'
import type { Identity, LimitRequest } from '../types.js'
import type { Attempt } from './attempt.js'
import { callerKey, keyNamesEveryGroup, soleKeyRule } from './caller-key.js'
import { type CompiledRule, limitUnits } from './compile-rule.js'
import { groupOf } from './identity-key.js'
import { RuleSet } from './rule-set.js'
import { isThenable, type Outcome, settledWithin } from './settled-within.js'
import { STORE_UNAVAILABLE, type Verdict } from './verdict.js'

/** How limit functions (`costUsd: (identity) => …`) are called, cached and survived. */
export interface LimitResolverOptions {
  /** How long a resolved limit is reused for an identity before the function is asked again. @default 60_000 */
  ttlMs?: number
  /**
   * Longest a request waits for limit functions; past it the rule's `fallback` applies (or 503), and a
   * value that arrives later is kept for the next request. @default 1000
   */
  timeoutMs?: number
  /**
   * On a throw, a bad value or a timeout: 'fallback' uses the rule's `fallback` (503 when it has none);
   * 'deny' always answers 503. @default 'fallback'
   */
  onError?: 'fallback' | 'deny'
  /** Identities whose resolved limits are kept (two generations of this many at most). @default 10_000 */
  maxIdentities?: number
}

/** Reported when a limit function fails or outlasts `timeoutMs`. */
export interface LimitErrorEvent {
  /** Name of the rule whose limit could not be resolved. */
  rule: string
  /** The caller (hashed identities only). */
  identity: Identity
  /** What went wrong (an `LlmLimitError` with code ERR_LIMIT_TIMEOUT for a timeout). */
  error: unknown
  /** The limit applied instead, in the rule's units, or undefined when the request was refused with 503. */
  fallback: number | undefined
}

/** A failed resolution is remembered this long at most, so a database that is down costs one wait per identity per second. */
const FAILURE_TTL_MS = 1000

type Resolved = RuleSet | Verdict

/** What is kept per caller of one rule set. */
interface Cached {
  result: Resolved | undefined
  expiresAt: number
  /** The result is a fallback or a 503, so a value arriving late replaces it. */
  failed: boolean
  pending: Promise<Resolved> | undefined
  /** The caller's store checks under `checksOf` (a resolved set), reused while the result stays that set. */
  checks: readonly StoreCheck[] | undefined
  checksOf: RuleSet | undefined
}

/** What the resolver keeps on a rule set it resolves. */
interface SetState {
  readonly owner: LimitResolver
  readonly cache: BoundedCache<string, Cached>
  /** The caller's key names every rule's group too, so its cached checks fit any request with that key. */
  readonly covered: boolean
  /** The one rule whose group is the caller's whole key, when the function rules all count one group. */
  readonly keyRule: CompiledRule | undefined
}

/**
 * Resolves the limit functions of a rule set for one caller into a set of constant rules, cached
 * per identity with a TTL; a call that throws or takes too long never holds a request longer than
 * `timeoutMs`: the rule's fallback applies, or the request is refused with 503.
 */
export class LimitResolver {
  private readonly ttlMs: number
  private readonly timeoutMs: number
  private readonly deny: boolean
  private readonly maxIdentities: number

  constructor(
    options: LimitResolverOptions,
    private readonly report: (event: LimitErrorEvent) => void,
    /** An in-process store whose clock times the cache, so a decision reads the time once, for both. */
    private readonly clockOwner: Store | undefined,
  ) {
    this.ttlMs = positive(options.ttlMs ?? 60_000, 'limitResolver.ttlMs')
    this.timeoutMs = positive(options.timeoutMs ?? 1000, 'limitResolver.timeoutMs')
    this.maxIdentities = positive(options.maxIdentities ?? 10_000, 'limitResolver.maxIdentities')
    const onError = options.onError ?? 'fallback'
    if (onError !== 'fallback' && onError !== 'deny') {
      configError(`Expected \`limitResolver.onError\` to be 'fallback' or 'deny', got ${shown(onError)}.`)
    }
    this.deny = onError === 'deny'
  }

  /** The cache's clock: the in-process store's own, else the wall clock. */
  private now(): number {
    return this.clockOwner?.clock?.() ?? Date.now()
  }

  /** Hands the time just read to the store, which the decision reaches without waiting. */
  private handOver(attempt: Attempt, now: number): void {
    attempt.now = now
    attempt.clockOwner = this.clockOwner
  }

  /** `set` with this caller's limits, a 503 verdict, or a promise of either settled within `timeoutMs`. */
  resolve(
    set: RuleSet,
    identity: Identity,
    request: LimitRequest,
    model: string | undefined,
  ): Resolved | Promise<Resolved> {
    const state = this.stateOf(set)
    const entry = this.entryOf(state, keyOf(state, set, identity, request, model), undefined)
    if (entry.result !== undefined && this.now() < entry.expiresAt) return entry.result
    return entry.pending ?? this.call(set, entry, identity, request)
  }

  /**
   * Sets `attempt.applied` and `attempt.checks` to the caller's resolved rules and their store checks;
   * returns the 503 verdict instead when the limits could not be resolved, or a promise of either.
   * A returning caller whose limits are fresh costs one cache lookup, one clock read and a compare:
   * its store checks are kept beside its limits, so they are not looked up again.
   */
  prepare(set: RuleSet, attempt: Attempt): Verdict | undefined | Promise<Verdict | undefined> {
    const state = this.stateOf(set)
    const key = keyOf(state, set, attempt.identity, attempt.request, attempt.estimate.model)
    const found = state.cache.get(key)
    const ready = found?.checksOf
    const now = this.now()
    if (ready !== undefined && now < (found as Cached).expiresAt) {
      this.handOver(attempt, now)
      const checks = (found as Cached).checks as readonly StoreCheck[]
      attempt.applied = ready
      attempt.checks = ready.fixed ? checks : ready.priced(checks, attempt.estimate)
      return undefined
    }
    const entry = this.entryOf(state, key, found)
    const result = entry.result
    if (result !== undefined && now < entry.expiresAt) {
      this.handOver(attempt, now)
      return applyTo(attempt, state, entry, result)
    }
    const resolved = entry.pending ?? this.call(set, entry, attempt.identity, attempt.request)
    if (resolved instanceof Promise) return resolved.then((done) => applyTo(attempt, state, entry, done))
    return applyTo(attempt, state, entry, resolved)
  }

  /** The resolver's state on `set`: kept on the set itself, so no decision looks the set up. */
  private stateOf(set: RuleSet): SetState {
    const state = set.limitCache as SetState | undefined
    if (state !== undefined && state.owner === this) return state
    const fresh: SetState = {
      owner: this,
      cache: new BoundedCache(this.maxIdentities),
      covered: keyNamesEveryGroup(set.rules),
      keyRule: soleKeyRule(set.rules),
    }
    set.limitCache = fresh
    return fresh
  }

  /** The caller's entry, made (empty) on its first request. */
  private entryOf(state: SetState, key: string, found: Cached | undefined): Cached {
    let entry = found ?? state.cache.get(key)
    if (entry === undefined) {
      entry = {
        result: undefined,
        expiresAt: 0,
        failed: false,
        pending: undefined,
        checks: undefined,
        checksOf: undefined,
      }
      state.cache.set(key, entry)
    }
    return entry
  }

  private call(
    set: RuleSet,
    entry: Cached,
    identity: Identity,
    request: LimitRequest,
  ): Resolved | Promise<Resolved> {
    const rules = set.rules
    const values: unknown[] = new Array(rules.length)
    let waits = false
    for (let i = 0; i < rules.length; i++) {
      const resolve = rules[i].resolveLimit
      if (resolve === undefined) continue
      try {
        values[i] = resolve(identity, request)
      } catch (error) {
        values[i] = Promise.reject(error)
      }
      if (isThenable(values[i])) waits = true
    }
    if (!waits)
      return this.settle(
        set,
        entry,
        identity,
        values.map((value) => ({ value })),
      )
    const started = this.now()
    const pending = settledWithin(values, this.timeoutMs).then((outcomes) => {
      entry.pending = undefined
      return this.settle(set, entry, identity, outcomes, started)
    })
    entry.pending = pending
    // A value that arrives after the timeout is kept for the callers that come next.
    Promise.all(values).then(
      (late) => {
        if (entry.pending === undefined && entry.failed) {
          const outcomes = late.map((value) => ({ value }))
          if (outcomes.every((outcome, i) => rules[i].resolveLimit === undefined || valid(outcome.value)))
            this.settle(set, entry, identity, outcomes, started, true)
        }
      },
      () => undefined,
    )
    return pending
  }

  /** Turns the functions' outcomes into a constant set (or a 503), and caches it. */
  private settle(
    set: RuleSet,
    entry: Cached,
    identity: Identity,
    outcomes: readonly Outcome[],
    started = this.now(),
    quiet = false,
  ): Resolved {
    const rules = set.rules
    const limits: number[] = new Array(rules.length)
    let failed = false
    let refusedBy: CompiledRule | undefined
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]
      limits[i] = rule.limit
      if (rule.resolveLimit === undefined) continue
      const outcome = outcomes[i]
      let error = outcome.error
      if (error === undefined) {
        try {
          limits[i] = limitUnits(rule, outcome.value, `the limit function of rule '${rule.name}'`)
          continue
        } catch (invalid) {
          error = invalid
        }
      }
      failed = true
      const fallback = this.deny ? undefined : rule.fallback
      if (fallback === undefined) refusedBy ??= rule
      else limits[i] = fallback
      if (!quiet) {
        this.report({
          rule: rule.name,
          identity,
          error,
          fallback: fallback === undefined ? undefined : fallback / rule.scale,
        })
      }
    }
    const result: Resolved =
      refusedBy === undefined
        ? set.withLimits(limits)
        : {
            ...STORE_UNAVAILABLE,
            message: `The limit of rule '${refusedBy.name}' could not be resolved for this caller, so the request was refused (${this.deny ? "limitResolver.onError: 'deny'" : 'the rule has no `fallback`'}). Retry shortly.`,
          }
    entry.result = result
    // Checks kept for another set carry other limits.
    if (entry.checksOf !== result) {
      entry.checks = undefined
      entry.checksOf = undefined
    }
    entry.failed = failed
    entry.expiresAt = started + (failed ? Math.min(this.ttlMs, FAILURE_TTL_MS) : this.ttlMs)
    return result
  }
}

/** The caller's key under `state`: one group when a single rule names it, else `callerKey`. */
function keyOf(
  state: SetState,
  set: RuleSet,
  identity: Identity,
  request: LimitRequest,
  model: string | undefined,
): string {
  const rule = state.keyRule
  return rule === undefined
    ? callerKey(set.rules, identity, request, model)
    : groupOf(rule, identity, request, model)
}

/** Puts the caller's resolved rules and checks on the attempt; the verdict when they are a 503. */
function applyTo(attempt: Attempt, state: SetState, entry: Cached, result: Resolved): Verdict | undefined {
  if (!(result instanceof RuleSet)) {
    attempt.applied = RuleSet.EMPTY
    return result
  }
  const checks = result.checks(attempt.identity, attempt.request, attempt.estimate)
  // Kept only for the entry's current set (a slower answer may have replaced it meanwhile); priced
  // checks differ from the set's own only in their amounts, which `priced` sets anew on each use.
  if (state.covered && entry.result === result) {
    entry.checks = checks
    entry.checksOf = result
  }
  attempt.applied = result
  attempt.checks = checks
  return undefined
}

function valid(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value > 0
}

function positive(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    configError(
      `Expected \`${option}\` to be a positive number of milliseconds or entries, got ${shown(value)}.`,
    )
  }
  return value
}
