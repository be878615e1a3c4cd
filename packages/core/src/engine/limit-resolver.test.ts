import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { memoryStore } from '../store/memory-store.js'
import type { Identity, LimitRequest } from '../types.js'
import { createLimiter } from './limiter.js'

const PROMPT = [{ role: 'user', content: 'Write a haiku about rate limits.' }]

function request(user: string, ip = '203.0.113.7'): LimitRequest {
  return { method: 'GET', path: '/x', headers: {}, ip, user }
}

function chat(user: string, maxTokens: number): LimitRequest {
  return {
    method: 'POST',
    path: '/v1/chat/completions',
    headers: {},
    ip: '203.0.113.7',
    user,
    body: { model: 'test-model', messages: PROMPT, max_tokens: maxTokens },
  }
}

async function admitted(check: () => Promise<{ allowed: boolean }>, n: number): Promise<number> {
  let count = 0
  for (let i = 0; i < n; i++) {
    const decision = await check()
    if (decision.allowed) count++
  }
  return count
}

// A returning caller's store checks are kept beside its resolved limits; these pin down when they may be reused.
describe('checks kept with resolved limits', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 15, 10) })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('a constant rule by another identity still counts each caller of it apart', async () => {
    // One user from two IPs: the user's limits are one entry, but the IP rule has two counters.
    const limiter = createLimiter({
      store: memoryStore(),
      rules: [
        { name: 'ip', by: 'ip', requests: 2, per: '1m' },
        { name: 'user', by: 'user', requests: () => 100, per: '1m' },
      ],
    })
    expect(await admitted(() => limiter.check(request('ann', '198.51.100.1')), 3)).toBe(2)
    expect(await admitted(() => limiter.check(request('ann', '198.51.100.2')), 3)).toBe(2)
    const decision = await limiter.check(request('ann', '198.51.100.3'))
    expect(decision.rules.map((rule) => [rule.name, rule.remaining])).toEqual([
      ['ip', 1],
      ['user', 95],
    ])
  })

  it('callers whose rules count different groups never share an entry', async () => {
    // Three rules by functions: (a, a, b) for 'one' and (a, b, b) for 'two' collapse to the same
    // groups when repeated groups are dropped, so the key must keep one part per rule.
    const middle = (identity: Identity) => (identity.user === 'one' ? 'a' : 'b')
    const limiter = createLimiter({
      store: memoryStore(),
      rules: [
        { name: 'r1', by: () => 'a', requests: (id) => (id.user === 'one' ? 1 : 5), per: '1m' },
        { name: 'r2', by: middle, requests: () => 100, per: '1m' },
        { name: 'r3', by: () => 'b', requests: () => 100, per: '1m' },
      ],
    })
    expect(await admitted(() => limiter.check(request('one')), 3)).toBe(1)
    const decision = await limiter.check(request('two'))
    expect(decision.rules.find((rule) => rule.name === 'r1')?.limit).toBe(5)
  })

  it('a token rule charges each request its own estimate', async () => {
    const limiter = createLimiter({
      store: memoryStore(),
      prices: { 'test-model': { input: 1, output: 1 } },
      rules: [{ name: 'tpm', by: 'user', tokens: () => 100_000, per: '1m' }],
    })
    const first = await limiter.check(chat('tia', 100))
    const second = await limiter.check(chat('tia', 5000))
    const third = await limiter.check(chat('tia', 100))
    const input = first.estimate.inputTokens
    expect(first.rules[0].remaining).toBe(100_000 - (input + 100))
    expect(second.rules[0].remaining).toBe(100_000 - (input + 100) - (input + 5000))
    expect(third.rules[0].remaining).toBe(100_000 - 2 * (input + 100) - (input + 5000))
  })

  it('a limit lowered at the source applies once the TTL ends, to a caller whose checks were kept', async () => {
    const budgets: Record<string, number> = { lee: 5 }
    const limiter = createLimiter({
      // Cached limits expire by the store's clock, here the faked wall clock.
      store: memoryStore({ now: () => Date.now() }),
      rules: [{ name: 'day', by: 'user', requests: (id) => budgets[id.user ?? ''] ?? 1, per: 'day' }],
      limitResolver: { ttlMs: 1000 },
    })
    expect(await admitted(() => limiter.check(request('lee')), 2)).toBe(2)
    budgets.lee = 2
    vi.advanceTimersByTime(999)
    expect((await limiter.check(request('lee'))).rules[0].limit).toBe(5)
    vi.advanceTimersByTime(1)
    const decision = await limiter.check(request('lee'))
    expect(decision.rules[0].limit).toBe(2)
    expect(decision.allowed).toBe(false)
  })

  it('keeps at most two generations of maxIdentities callers', async () => {
    const calls: string[] = []
    const limiter = createLimiter({
      store: memoryStore(),
      rules: [
        {
          by: 'user',
          requests: (id) => {
            calls.push(id.user ?? '?')
            return 10
          },
          per: '1m',
        },
      ],
      limitResolver: { maxIdentities: 2 },
    })
    for (const user of ['u1', 'u2', 'u3', 'u4', 'u5', 'u1']) await limiter.check(request(user))
    // u1 was dropped with its generation after four others arrived; within the bound it would be kept.
    expect(calls).toEqual(['u1', 'u2', 'u3', 'u4', 'u5', 'u1'])
    await limiter.check(request('u5'))
    expect(calls).toHaveLength(6)
  })
})

describe('one clock read per decision', () => {
  it("a cached limit's expiry and the store share the store's clock: one read per decision", async () => {
    let reads = 0
    const store = memoryStore({
      now: () => {
        reads++
        return Date.UTC(2026, 0, 15, 10)
      },
    })
    const limiter = createLimiter({ store, rules: [{ by: 'user', requests: () => 5, per: 'day' }] })
    await limiter.check(request('ada'))
    const wall = vi.spyOn(Date, 'now')
    reads = 0
    expect((await limiter.check(request('ada'))).allowed).toBe(true)
    expect(reads + wall.mock.calls.length).toBe(1)
    wall.mockRestore()
  })

  it("a store takes a handed-over time only from its own clock, never another store's", () => {
    const mine = memoryStore({ now: () => 1000 })
    const other = memoryStore({ now: () => 5000 })
    expect(mine.consumeSync([], { requestId: 'a', now: 9, clockOwner: other }).now).toBe(1000)
    expect(mine.consumeSync([], { requestId: 'b', now: 9, clockOwner: mine }).now).toBe(9)
    expect(mine.consumeSync([], { requestId: 'c' }).now).toBe(1000)
  })
})
