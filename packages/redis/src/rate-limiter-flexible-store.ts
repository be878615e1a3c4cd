import {
  type ConsumeResult,
  calendarWindow,
  LlmLimitError,
  type Store,
  type StoreCheck,
  type StoreCheckResult,
} from '@llm-limit/core'

/** Per-call options the bridge passes to rate-limiter-flexible (`customDuration` in seconds). */
export interface FlexibleCallOptions {
  customDuration?: number
}

/** The part of a rate-limiter-flexible limiter the bridge uses (RateLimiterPostgres, Mongo, Memcache, DynamoDB, Redis, Memory…). */
export interface FlexibleLimiter {
  consume(key: string, points?: number, options?: FlexibleCallOptions): Promise<FlexibleResult>
  get(key: string, options?: FlexibleCallOptions): Promise<FlexibleResult | null>
  reward(key: string, points?: number, options?: FlexibleCallOptions): Promise<unknown>
  penalty(key: string, points?: number, options?: FlexibleCallOptions): Promise<unknown>
}

/** rate-limiter-flexible's RateLimiterRes. */
export interface FlexibleResult {
  remainingPoints: number
  msBeforeNext: number
  consumedPoints: number
}

/** Options of `rateLimiterFlexibleStore()`. */
export interface FlexibleStoreOptions {
  /**
   * Creates the limiter of one rule, or a promise of it when the limiter must get ready first (RateLimiterPostgres
   * creates its table asynchronously): e.g. `(options) => new RateLimiterRedis({ storeClient: redis, ...options })`.
   */
  create: (options: {
    points: number
    duration: number
    keyPrefix: string
  }) => FlexibleLimiter | Promise<FlexibleLimiter>
  /** Prefix of every limiter's `keyPrefix` (`${keyPrefix}:${rule}`). @default 'llm-limit' */
  keyPrefix?: string
}

/** One rule's limiter and the fixed window it counts in. */
interface Bridged {
  limiter: Promise<FlexibleLimiter>
  points: number
  durationMs: number
}

const DAY_MS = 86_400_000
/** A refund that would land this close to the end of its window is dropped: the row could expire first and turn negative. */
const END_GUARD_MS = 50

function isResult(value: unknown): value is FlexibleResult {
  return typeof value === 'object' && value !== null && 'msBeforeNext' in value && 'consumedPoints' in value
}

/** Where one check is counted now: its RLF key, the call options and, for calendar rules, the period. */
function placeOf(check: StoreCheck, now: number) {
  if (!check.calendar) return { key: check.key, options: undefined, period: undefined }
  const { start, end } = calendarWindow(check.calendar, now, check.timeZone)
  // A key per period with a duration that ends with it: exact calendar windows on any RLF backend.
  const options = { customDuration: Math.max(1, Math.ceil((end - now) / 1000)) }
  return { key: `${check.key}:${start}`, options, period: [start, end] as [number, number] }
}

const storeError = (action: string, error: unknown) =>
  new LlmLimitError(
    'ERR_STORE',
    `rate-limiter-flexible failed to ${action}: ${error instanceof Error ? error.message : String(error)}. Check the limiter's backend (database, Redis) and its connection.`,
    { cause: error },
  )

/**
 * Backs request, token and cost rules with any rate-limiter-flexible limiter. Semantics: every rolling rule is an
 * RLF fixed window of `per` that starts at its first hit (a token bucket with a smaller `burst` becomes a window of
 * `burst` per `per × burst / limit`); calendar rules are exact days, weeks and months (UTC or the rule's zone); a
 * decision is not atomic — rules are consumed in turn and those already charged are rewarded when a later one denies;
 * adjustments land only in the window they were reserved in; concurrency rules are not supported. Use redisStore for atomic, exact decisions.
 * @example
 * const store = rateLimiterFlexibleStore({ create: (o) => new RateLimiterRedis({ storeClient: redis, ...o }) })
 */
export function rateLimiterFlexibleStore(options: FlexibleStoreOptions): Store {
  if (typeof options?.create !== 'function') {
    throw new LlmLimitError(
      'ERR_CONFIG',
      'Expected `rateLimiterFlexibleStore({ create })` to get a function that returns a rate-limiter-flexible limiter, e.g. `create: (o) => new RateLimiterRedis({ storeClient, ...o })`.',
    )
  }
  const prefix = options.keyPrefix ?? 'llm-limit'
  const bridged = new Map<string, Bridged>()

  const bridgedFor = (check: StoreCheck): Bridged => {
    if (check.algorithm === 'concurrency') {
      throw new LlmLimitError(
        'ERR_CONFIG',
        'rateLimiterFlexibleStore cannot hold concurrency leases; use memoryStore() or redisStore() for `concurrent` rules.',
      )
    }
    const rule = check.rule ?? 'rule'
    const id = `${rule}:${check.algorithm}:${check.limit}:${check.burst}:${check.windowMs}:${check.calendar ?? ''}:${check.timeZone ?? ''}`
    let entry = bridged.get(id)
    if (entry) return entry
    let points = check.limit
    let durationMs =
      check.calendar === 'day' ? DAY_MS : check.calendar === 'month' ? 31 * DAY_MS : check.windowMs
    if (check.algorithm === 'token-bucket' && check.burst > 0 && check.burst < check.limit) {
      // Same long-run rate, and never more than `burst` at once within a window.
      points = check.burst
      durationMs = (check.windowMs * check.burst) / check.limit
    }
    const duration = Math.max(1, Math.ceil(durationMs / 1000))
    const created = Promise.resolve()
      .then(() => options.create({ points, duration, keyPrefix: `${prefix}:${rule}` }))
      .catch((error: unknown) => {
        // Forget the failure so the next decision tries again (the database may be back).
        bridged.delete(id)
        throw storeError(`create the limiter of rule '${rule}'`, error)
      })
    entry = { limiter: created, points, durationMs: duration * 1000 }
    bridged.set(id, entry)
    return entry
  }

  /** The start of the RLF window a state belongs to (rolling) or the calendar period start. */
  const windowOf = (entry: Bridged, state: FlexibleResult | null, now: number, period?: [number, number]) =>
    period ? period[0] : state && state.msBeforeNext >= 0 ? now + state.msBeforeNext - entry.durationMs : now

  const peek = async (check: StoreCheck, now: number): Promise<StoreCheckResult> => {
    const entry = bridgedFor(check)
    const limiter = await entry.limiter
    const place = placeOf(check, now)
    const state = await limiter.get(place.key, place.options).catch((error: unknown) => {
      throw storeError('read a counter', error)
    })
    const used = state ? Math.max(0, state.consumedPoints) : 0
    return {
      allowed: check.cost <= entry.points,
      remaining: Math.max(0, entry.points - used),
      resetAt: used > 0 && state ? (place.period ? place.period[1] : now + state.msBeforeNext) : now,
      retryAfterMs: check.cost > entry.points ? -1 : 0,
      window: windowOf(entry, state, now, place.period),
    }
  }

  return {
    name: 'rate-limiter-flexible',
    async consume(checks): Promise<ConsumeResult> {
      // Every check is resolved before any is charged, so an unsupported rule refuses the whole decision.
      for (const check of checks) bridgedFor(check)
      const now = Date.now()
      const results: StoreCheckResult[] = []
      const charged: { check: StoreCheck; index: number }[] = []
      let allowed = true
      for (const check of checks) {
        const entry = bridgedFor(check)
        if (check.cost === 0 || !allowed) {
          results.push(await peek(check, now))
          continue
        }
        if (check.cost > entry.points) {
          allowed = false
          results.push({ ...(await peek(check, now)), allowed: false, retryAfterMs: -1 })
          continue
        }
        const limiter = await entry.limiter
        const place = placeOf(check, now)
        try {
          const result = await limiter.consume(place.key, check.cost, place.options)
          charged.push({ check, index: results.length })
          results.push({
            allowed: true,
            remaining: result.remainingPoints,
            resetAt: place.period ? place.period[1] : now + result.msBeforeNext,
            retryAfterMs: 0,
            window: windowOf(entry, result, now, place.period),
          })
        } catch (error) {
          if (!isResult(error)) throw storeError('consume', error)
          // RLF counts the rejected points too; give them back so a denial charges nothing.
          await limiter.reward(place.key, check.cost, place.options).catch((rewardError: unknown) => {
            throw storeError('refund a denied charge', rewardError)
          })
          allowed = false
          results.push({
            allowed: false,
            remaining: Math.max(0, entry.points - (error.consumedPoints - check.cost)),
            resetAt: place.period ? place.period[1] : now + error.msBeforeNext,
            retryAfterMs: Math.max(1, error.msBeforeNext),
            window: windowOf(entry, error, now, place.period),
          })
        }
      }
      if (!allowed) {
        // Not atomic: compensate the rules already charged, so a denial charges nothing.
        for (const { check, index } of charged) {
          const limiter = await bridgedFor(check).limiter
          const place = placeOf(check, now)
          await limiter.reward(place.key, check.cost, place.options).catch((error: unknown) => {
            throw storeError('compensate a charged rule', error)
          })
          results[index] = { ...results[index], remaining: results[index].remaining + check.cost }
        }
      }
      return { allowed, now, results }
    },
    async adjust(adjustments) {
      for (const { check, delta, window } of adjustments) {
        if (delta === 0) continue
        const entry = bridgedFor(check)
        const limiter = await entry.limiter
        const now = Date.now()
        const place = placeOf(check, now)
        if (place.period && place.period[0] !== window) continue
        const state = await limiter.get(place.key, place.options).catch((error: unknown) => {
          throw storeError('read a counter', error)
        })
        // Only the window that was reserved in: RLF would otherwise open a new window with the correction in it.
        if (!state || state.msBeforeNext < END_GUARD_MS) continue
        if (!place.period && Math.abs(windowOf(entry, state, now) - window) >= entry.durationMs / 2) continue
        const done =
          delta < 0
            ? limiter.reward(place.key, -delta, place.options)
            : limiter.penalty(place.key, delta, place.options)
        await done.catch((error: unknown) => {
          throw storeError('adjust a counter', error)
        })
      }
    },
  }
}
