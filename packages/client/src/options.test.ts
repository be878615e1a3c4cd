import { describe, expect, it } from 'vitest'
import { backoffFetch } from './backoff-fetch.js'
import { circuitBreaker } from './circuit-breaker.js'
import { priorityQueue } from './priority-queue.js'
import { upstreamGuard } from './upstream-guard.js'

const bad = (make: () => unknown) => {
  try {
    make()
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('expected ERR_CONFIG')
}

describe('client options are checked once, at construction', () => {
  it.each([
    [
      'priorityQueue({ concurrency: 0 }), which would queue every call forever',
      () => priorityQueue({ concurrency: 0 }),
      /`concurrency`.*from 1/,
    ],
    ['priorityQueue({ intervalMs: -5 })', () => priorityQueue({ intervalMs: -5 }), /`intervalMs`/],
    [
      'priorityQueue({ maxWaitMs: 1e12 }), past what setTimeout can wait',
      () => priorityQueue({ maxWaitMs: 1e12 }),
      /`maxWaitMs`/,
    ],
    [
      'priorityQueue({ maxPerPriority: { low: 1.5 } })',
      () => priorityQueue({ maxPerPriority: { low: 1.5 } }),
      /`maxPerPriority.low`/,
    ],
    [
      'backoffFetch({ maxDelayMs: "x" })',
      () => backoffFetch({ maxDelayMs: 'x' as never }),
      /`maxDelayMs`.*got "x"/,
    ],
    ['backoffFetch({ retries: NaN })', () => backoffFetch({ retries: Number.NaN }), /`retries`.*got NaN/],
    [
      'backoffFetch({ retryStatuses: [429, "503"] })',
      () => backoffFetch({ retryStatuses: [429, '503' as never] }),
      /`retryStatuses`/,
    ],
    ['backoffFetch({ fetch: 5 })', () => backoffFetch({ fetch: 5 as never }), /`fetch` to be a function/],
    [
      'circuitBreaker({ failureThreshold: 0 })',
      () => circuitBreaker({ failureThreshold: 0 }),
      /`failureThreshold`/,
    ],
    ['circuitBreaker({ cooldownMs: -1 })', () => circuitBreaker({ cooldownMs: -1 }), /`cooldownMs`/],
    ['upstreamGuard(null)', () => upstreamGuard(null as never), /`upstreamGuard\(options\)` to be an object/],
    [
      'upstreamGuard({ tokensPerMinute: -1 })',
      () => upstreamGuard({ tokensPerMinute: -1 }),
      /`tokensPerMinute`/,
    ],
    ['upstreamGuard({ store: {} })', () => upstreamGuard({ store: {} as never }), /`store`/],
    ['upstreamGuard({ maxWaitMs: -1 })', () => upstreamGuard({ maxWaitMs: -1 }), /`maxWaitMs`/],
    ['upstreamGuard({ windowMs: 0 })', () => upstreamGuard({ windowMs: 0 }), /`windowMs`.*from 1/],
    [
      'backoffFetch({ maxRetryAfterMs: "1h" })',
      () => backoffFetch({ maxRetryAfterMs: '1h' as never }),
      /`maxRetryAfterMs`.*got "1h"/,
    ],
    [
      'circuitBreaker({ halfOpenRetryMs: 0 }), which would let callers spin',
      () => circuitBreaker({ halfOpenRetryMs: 0 }),
      /`halfOpenRetryMs`.*from 1/,
    ],
    [
      'circuitBreaker({ minRemaining: { tokens: -5 } })',
      () => circuitBreaker({ minRemaining: { tokens: -5 } }),
      /`minRemaining.tokens`/,
    ],
    [
      'circuitBreaker({ minRemaining: "5" })',
      () => circuitBreaker({ minRemaining: '5' as never }),
      /`minRemaining`/,
    ],
  ])('%s throws ERR_CONFIG naming the option', (_name, make, message) => {
    const error = bad(make)
    expect(error.code).toBe('ERR_CONFIG')
    expect(error.message).toMatch(message)
  })

  it('still takes every default, and Infinity per interval', () => {
    expect(() => [
      backoffFetch(),
      circuitBreaker(),
      priorityQueue({ perInterval: Number.POSITIVE_INFINITY }),
      upstreamGuard(),
    ]).not.toThrow()
  })
})
