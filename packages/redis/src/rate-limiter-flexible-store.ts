import {
  type ConsumeResult,
  LlmLimitError,
  type Store,
  type StoreCheck,
  type StoreCheckResult,
} from '@llm-limit/core'

/** The part of a rate-limiter-flexible limiter the bridge uses (RateLimiterPostgres, Mongo, Memcache, DynamoDB, Memory…). */
export interface FlexibleLimiter {
  consume(key: string, points?: number): Promise<FlexibleResult>
  get(key: string): Promise<FlexibleResult | null>
  reward(key: string, points?: number): Promise<unknown>
  penalty(key: string, points?: number): Promise<unknown>
}

/** rate-limiter-flexible's RateLimiterRes. */
export interface FlexibleResult {
  remainingPoints: number
  msBeforeNext: number
  consumedPoints: number
}

/** Options of `rateLimiterFlexibleStore()`. */
export interface FlexibleStoreOptions {
  /** Creates the limiter for one rule: e.g. `({ points, duration, keyPrefix }) => new RateLimiterPostgres({ storeClient, points, duration, keyPrefix })`. */
  create: (options: { points: number; duration: number; keyPrefix: string }) => FlexibleLimiter
}

function isResult(value: unknown): value is FlexibleResult {
  return typeof value === 'object' && value !== null && 'msBeforeNext' in value
}

/**
 * Backs request, token and cost rules with any rate-limiter-flexible limiter. Semantics: every
 * rule becomes an RLF fixed window of `per` (calendar rules become rolling windows of a day or 31
 * days); a decision is not atomic — rules are consumed in turn and those already charged are
 * rewarded when a later one denies; concurrency rules are not supported. Use redisStore for
 * atomic, exact decisions.
 * @example
 * const store = rateLimiterFlexibleStore({ create: (o) => new RateLimiterPostgres({ storeClient: pool, ...o }) })
 */
export function rateLimiterFlexibleStore(options: FlexibleStoreOptions): Store {
  const limiters = new Map<string, FlexibleLimiter>()
  const limiterFor = (check: StoreCheck): FlexibleLimiter => {
    if (check.algorithm === 'concurrency') {
      throw new LlmLimitError(
        'ERR_CONFIG',
        'rateLimiterFlexibleStore cannot hold concurrency leases; use memoryStore() or redisStore() for `concurrent` rules.',
      )
    }
    const windowMs =
      check.calendar === 'day' ? 86_400_000 : check.calendar === 'month' ? 31 * 86_400_000 : check.windowMs
    const id = `${check.rule ?? 'rule'}:${check.limit}:${windowMs}`
    let limiter = limiters.get(id)
    if (!limiter) {
      limiter = options.create({
        points: check.limit,
        duration: Math.max(1, Math.ceil(windowMs / 1000)),
        keyPrefix: `llm-limit:${check.rule ?? 'rule'}`,
      })
      limiters.set(id, limiter)
    }
    return limiter
  }

  return {
    name: 'rate-limiter-flexible',
    async consume(checks): Promise<ConsumeResult> {
      const now = Date.now()
      const results: StoreCheckResult[] = []
      const charged: { check: StoreCheck; index: number }[] = []
      let allowed = true
      for (const check of checks) {
        const limiter = limiterFor(check)
        if (check.cost === 0 || !allowed) {
          const state = await limiter.get(check.key)
          results.push({
            allowed: true,
            remaining: state?.remainingPoints ?? check.limit,
            resetAt: now + (state?.msBeforeNext ?? 0),
            retryAfterMs: 0,
            window: 0,
          })
          continue
        }
        if (check.cost > check.limit) {
          allowed = false
          results.push({ allowed: false, remaining: 0, resetAt: now, retryAfterMs: -1, window: 0 })
          continue
        }
        try {
          const result = await limiter.consume(check.key, check.cost)
          charged.push({ check, index: results.length })
          results.push({
            allowed: true,
            remaining: result.remainingPoints,
            resetAt: now + result.msBeforeNext,
            retryAfterMs: 0,
            window: 0,
          })
        } catch (error) {
          if (!isResult(error))
            throw new LlmLimitError('ERR_STORE', `rate-limiter-flexible failed: ${String(error)}`, {
              cause: error,
            })
          // RLF counts the rejected points too; give them back so a denial charges nothing.
          await limiter.reward(check.key, check.cost)
          allowed = false
          results.push({
            allowed: false,
            remaining: Math.max(0, error.remainingPoints),
            resetAt: now + error.msBeforeNext,
            retryAfterMs: Math.max(1, error.msBeforeNext),
            window: 0,
          })
        }
      }
      if (!allowed) {
        for (const { check, index } of charged) {
          await limiterFor(check).reward(check.key, check.cost)
          results[index] = { ...results[index], remaining: results[index].remaining + check.cost }
        }
      }
      return { allowed, now, results }
    },
    async adjust(adjustments) {
      for (const { check, delta } of adjustments) {
        const limiter = limiterFor(check)
        if (delta < 0) await limiter.reward(check.key, -delta)
        else if (delta > 0) await limiter.penalty(check.key, delta)
      }
    },
  }
}
