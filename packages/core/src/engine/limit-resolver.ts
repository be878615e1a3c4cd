import { BoundedCache } from '../bounded-memo.js'
import { configError, shown } from '../errors.js'
import type { Identity, LimitRequest } from '../types.js'
import { type CompiledRule, limitUnits } from './compile-rule.js'
import { groupOf } from './identity-key.js'
import type { RuleSet } from './rule-set.js'
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

interface Cached {
  result: Resolved | undefined
  expiresAt: number
  /** The result is a fallback or a 503, so a value arriving late replaces it. */
  failed: boolean
  pending: Promise<Resolved> | undefined
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

  /** `set` with this caller's limits, a 503 verdict, or a promise of either settled within `timeoutMs`. */
  resolve(
    set: RuleSet,
    identity: Identity,
    request: LimitRequest,
    model: string | undefined,
  ): Resolved | Promise<Resolved> {
    const rules = set.rules
    let key = ''
    let last = ''
    let lastBy: CompiledRule['by'] | undefined
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]
      if (rule.resolveLimit === undefined) continue
      // Rules counting the same named identity share its group: found once, and the key grows only for another.
      if (rule.by === lastBy && typeof lastBy === 'string' && !rule.perModel) continue
      const group = groupOf(rule, identity, request, model)
      lastBy = rule.perModel ? undefined : rule.by
      if (group === last) continue
      key = last === '' ? group : `${key.length}:${key}${group}`
      last = group
    }
    // The cache lives on the set itself (one per resolver and set): no lookup of the set per decision.
    let cache = set.limitCache as BoundedCache<string, Cached> | undefined
    if (cache === undefined || set.limitCacheOwner !== this) {
      cache = new BoundedCache(this.maxIdentities)
      set.limitCache = cache
      set.limitCacheOwner = this
    }
    const cached = cache.get(key)
    const now = Date.now()
    if (cached !== undefined) {
      if (cached.result !== undefined && now < cached.expiresAt) return cached.result
      if (cached.pending !== undefined) return cached.pending
    }
    const entry: Cached = cached ?? { result: undefined, expiresAt: 0, failed: false, pending: undefined }
    if (cached === undefined) cache.set(key, entry)
    return this.call(set, entry, identity, request)
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
    const started = Date.now()
    const pending = this.bounded(values).then((outcomes) => {
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

  /** The values, each one settled or failed by `timeoutMs`; never rejects. */
  private bounded(values: readonly unknown[]): Promise<Outcome[]> {
    const timeoutMs = this.timeoutMs
    return new Promise((done) => {
      const outcomes: (Outcome | undefined)[] = values.map((value) =>
        isThenable(value) ? undefined : { value },
      )
      let left = outcomes.filter((outcome) => outcome === undefined).length
      const timer = setTimeout(() => {
        const error = new LimitTimeoutError(timeoutMs)
        done(outcomes.map((outcome) => outcome ?? { error }))
      }, timeoutMs)
      values.forEach((value, i) => {
        if (!isThenable(value)) return
        Promise.resolve(value).then(
          (resolved) => {
            outcomes[i] = { value: resolved }
            if (--left === 0) {
              clearTimeout(timer)
              done(outcomes as Outcome[])
            }
          },
          (error: unknown) => {
            outcomes[i] = { error: error ?? new Error('The limit function rejected without a reason.') }
            if (--left === 0) {
              clearTimeout(timer)
              done(outcomes as Outcome[])
            }
          },
        )
      })
    })
  }

  /** Turns the functions' outcomes into a constant set (or a 503), and caches it. */
  private settle(
    set: RuleSet,
    entry: Cached,
    identity: Identity,
    outcomes: readonly Outcome[],
    started = Date.now(),
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
    entry.failed = failed
    entry.expiresAt = started + (failed ? Math.min(this.ttlMs, FAILURE_TTL_MS) : this.ttlMs)
    return result
  }
}

interface Outcome {
  value?: unknown
  error?: unknown
}

/** A limit function that did not answer within `limitResolver.timeoutMs`. */
class LimitTimeoutError extends Error {
  readonly code = 'ERR_LIMIT_TIMEOUT'
  constructor(timeoutMs: number) {
    super(
      `A limit function did not answer within ${timeoutMs} ms (limitResolver.timeoutMs); its rule's fallback applied. Make it faster or cache its source.`,
    )
    this.name = 'LimitTimeoutError'
  }
}

function valid(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value > 0
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function'
  )
}

function positive(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    configError(
      `Expected \`${option}\` to be a positive number of milliseconds or entries, got ${shown(value)}.`,
    )
  }
  return value
}
