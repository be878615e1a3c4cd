import { createLimiter, type LimitErrorEvent, type LimitRequest, memoryStore } from '@llm-limit/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

const request = (user: string): LimitRequest => ({
  method: 'GET',
  path: '/x',
  headers: {},
  ip: '203.0.113.7',
  user,
})

/** A store on the faked wall clock: cached limits expire by the store's clock, as its windows do. */
function onFakeClock() {
  return { store: memoryStore({ now: () => Date.now() }) }
}

describe('per-identity limit functions', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 15, 10) })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('gives each identity its own limit, cached for ttlMs', async () => {
    const budgets: Record<string, number> = { alice: 3, bob: 1 }
    const calls: string[] = []
    const limiter = createLimiter({
      ...onFakeClock(),
      rules: [
        {
          name: 'day',
          by: 'user',
          requests: (identity) => {
            calls.push(identity.user ?? '?')
            return budgets[identity.user ?? ''] ?? 1
          },
          per: 'day',
        },
      ],
      limitResolver: { ttlMs: 10_000 },
    })
    const admitted = async (user: string, n: number) => {
      let count = 0
      for (let i = 0; i < n; i++) {
        const decision = await limiter.check(request(user))
        if (decision.allowed) count++
      }
      return count
    }
    expect(await admitted('alice', 5)).toBe(3)
    expect(await admitted('bob', 5)).toBe(1)
    expect(calls).toEqual(['alice', 'bob'])
    const decision = await limiter.check(request('alice'))
    expect(decision.rules[0].limit).toBe(3)
    // Raised in the database: seen once the cached value expires, and not before.
    budgets.alice = 5
    expect(await admitted('alice', 1)).toBe(0)
    vi.advanceTimersByTime(10_001)
    expect(await admitted('alice', 5)).toBe(2)
    expect(calls).toEqual(['alice', 'bob', 'alice'])
  })

  it('async functions are awaited once per identity, however many requests wait for them', async () => {
    let calls = 0
    const limiter = createLimiter({
      ...onFakeClock(),
      rules: [
        {
          by: 'user',
          costUsd: async () => {
            calls++
            await new Promise((resolve) => setTimeout(resolve, 50))
            return 2
          },
          per: 'day',
        },
      ],
    })
    const pending = Array.from({ length: 10 }, () => limiter.check(request('carol')))
    await vi.advanceTimersByTimeAsync(50)
    const decisions = await Promise.all(pending)
    expect(decisions.every((decision) => decision.allowed)).toBe(true)
    expect(decisions[0].rules[0].limit).toBe(2)
    expect(calls).toBe(1)
  })

  it.each([
    [
      'throws',
      () => {
        throw new Error('database down')
      },
    ],
    ['rejects', () => Promise.reject(new Error('database down'))],
    ['takes 10 s', () => new Promise<number>((resolve) => setTimeout(() => resolve(9), 10_000))],
    ['never answers', () => new Promise<number>(() => undefined)],
    ['returns garbage', () => Number.NaN],
  ])('a function that %s falls back within timeoutMs and is reported', async (_, resolve) => {
    const events: LimitErrorEvent[] = []
    const limiter = createLimiter({
      ...onFakeClock(),
      rules: [{ name: 'tpm', by: 'user', requests: resolve, fallback: 2, per: '1m' }],
      limitResolver: { timeoutMs: 200 },
      events: { onLimitError: (event) => events.push(event) },
    })
    const started = Date.now()
    let settledAt = 0
    const pending = limiter.check(request('dave')).then((decision) => {
      settledAt = Date.now()
      return decision
    })
    await vi.advanceTimersByTimeAsync(200)
    const decision = await pending
    expect(settledAt - started).toBeLessThanOrEqual(200)
    expect(decision.allowed).toBe(true)
    expect(decision.rules[0].limit).toBe(2)
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ rule: 'tpm', fallback: 2 })
    expect(String((events[0].error as Error).message)).toMatch(/limit function|database down|positive/)
  })

  it('without a fallback, or with onError deny, a failing function is a 503 within timeoutMs', async () => {
    for (const setup of [
      { fallback: undefined, onError: undefined },
      { fallback: 5, onError: 'deny' as const },
    ]) {
      const limiter = createLimiter({
        ...onFakeClock(),
        rules: [
          {
            by: 'user',
            tokens: () => new Promise<number>(() => undefined),
            fallback: setup.fallback,
            per: '1m',
          },
        ],
        limitResolver: { timeoutMs: 300, onError: setup.onError },
      })
      const started = Date.now()
      const pending = limiter.check(request('erin'))
      await vi.advanceTimersByTimeAsync(300)
      const decision = await pending
      expect(Date.now() - started).toBe(300)
      expect(decision.allowed).toBe(false)
      expect(decision.status).toBe(503)
      expect(decision.message).toMatch(/could not be resolved/)
    }
  })

  it('a failure is remembered for at most a second, and a late answer replaces the fallback', async () => {
    let calls = 0
    const limiter = createLimiter({
      ...onFakeClock(),
      rules: [
        {
          by: 'user',
          requests: () => {
            calls++
            return new Promise<number>((resolve) => setTimeout(() => resolve(7), 500))
          },
          fallback: 1,
          per: 'day',
        },
      ],
      limitResolver: { timeoutMs: 100 },
    })
    const first = limiter.check(request('fay'))
    await vi.advanceTimersByTimeAsync(100)
    expect((await first).rules[0].limit).toBe(1)
    // While the fallback is remembered, requests do not wait again.
    const second = limiter.checkNow(request('fay'))
    expect(second instanceof Promise).toBe(false)
    await vi.advanceTimersByTimeAsync(400)
    // The slow answer arrived: it replaces the fallback at once.
    const third = await limiter.check(request('fay'))
    expect(third.rules[0].limit).toBe(7)
    expect(calls).toBe(1)
  })

  it('rejects a fallback on a constant rule, and bad resolver options, at construction', () => {
    expect(() => createLimiter({ rules: [{ requests: 5, fallback: 2 }] })).toThrow(/fallback.*function/)
    expect(() => createLimiter({ limitResolver: { timeoutMs: -1 } })).toThrow(/limitResolver.timeoutMs/)
    expect(() => createLimiter({ limitResolver: { onError: 'maybe' as unknown as 'deny' } })).toThrow(
      /limitResolver.onError/,
    )
  })

  it('the store sees the resolved limit (memory store, one counter per identity)', async () => {
    const store = memoryStore()
    const limiter = createLimiter({
      store,
      rules: [{ by: 'user', requests: (id) => (id.user === 'big' ? 100 : 1), per: 'day' }],
    })
    expect((await limiter.check(request('small'))).allowed).toBe(true)
    expect((await limiter.check(request('small'))).allowed).toBe(false)
    for (let i = 0; i < 100; i++) expect((await limiter.check(request('big'))).allowed).toBe(true)
    expect((await limiter.check(request('big'))).allowed).toBe(false)
  })
})

describe("calendar 'week' (memory store, fake clock)", () => {
  it('resets at Monday 00:00 UTC, not before', async () => {
    const sunday = Date.UTC(2026, 0, 18, 23, 59, 0) // a Sunday
    let now = sunday
    const limiter = createLimiter({
      store: memoryStore({ now: () => now }),
      rules: [{ by: 'user', requests: 2, per: 'week' }],
    })
    expect((await limiter.check(request('gus'))).allowed).toBe(true)
    expect((await limiter.check(request('gus'))).allowed).toBe(true)
    const denied = await limiter.check(request('gus'))
    expect(denied.allowed).toBe(false)
    expect(denied.retryAfterMs).toBe(60_000)
    now = Date.UTC(2026, 0, 19, 0, 0, 0) - 1
    expect((await limiter.check(request('gus'))).allowed).toBe(false)
    now = Date.UTC(2026, 0, 19, 0, 0, 0)
    expect((await limiter.check(request('gus'))).allowed).toBe(true)
    expect(() => createLimiter({ rules: [{ requests: 1, per: 'fortnight' as 'week' }] })).toThrow(/'week'/)
  })
})
