import {
  createLimiter,
  type Limiter,
  type LimitRequest,
  memoryStore,
  type Rule,
  type Store,
} from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { type RedisProcess, ready, redisClient, startCluster, startRedis } from './support/redis-servers.js'

/** One table of the operator's operations, run against every store. */
let standalone: RedisProcess
let cluster: Awaited<ReturnType<typeof startCluster>>
beforeAll(async () => {
  ;[standalone, cluster] = await Promise.all([startRedis(), startCluster()])
}, 60_000)
afterAll(async () => {
  await standalone?.stop()
  await cluster?.stop()
})

const BACKENDS: [string, () => Promise<Store>][] = [
  ['memory', async () => memoryStore({ now: () => Date.UTC(2026, 5, 15, 12) })],
  [
    'redis standalone',
    async () => {
      const client = redisClient(standalone.port)
      await ready(client)
      return redisStore({ client })
    },
  ],
  [
    'redis cluster',
    async () => {
      const client = cluster.client()
      await ready(client)
      return redisStore({ client })
    },
  ],
]

const budgets: Record<string, number> = {}
const rules = (): Rule[] => [
  { name: 'req', by: 'user', requests: 5, per: 'day' },
  { name: 'spend', by: 'user', costUsd: (id) => budgets[id.user ?? ''] ?? 1, fallback: 1, per: 'month' },
  { name: 'tpm', by: 'user', tokens: 1000, per: '1m' },
]
const request = (user: string): LimitRequest => ({
  method: 'GET',
  path: '/x',
  headers: {},
  ip: '198.51.100.4',
  user,
})

let run = 0

describe.each(BACKENDS)('operator API on %s', (_, makeStore) => {
  let limiter: Limiter
  const crossed: { user: string | undefined; rule: string; fraction: number }[] = []
  let user: string
  const admitted = async (n: number) => {
    let count = 0
    for (let i = 0; i < n; i++) {
      const decision = await limiter.check(request(user))
      if (decision.allowed) count++
    }
    return count
  }
  const state = async (rule: string) => {
    const peeked = await limiter.peek({ user })
    const found = peeked.find((entry) => entry.name === rule)
    if (found === undefined) throw new Error(`no rule ${rule}`)
    return found
  }

  beforeAll(async () => {
    limiter = createLimiter({
      store: await makeStore(),
      rules: rules(),
      controls: true,
      events: {
        onThreshold: (event) =>
          crossed.push({ user: event.identity.user, rule: event.rule, fraction: event.fraction }),
      },
    })
  })
  afterAll(async () => {
    await limiter.close()
    ;(limiter.store as { client?: { disconnect(): void } }).client?.disconnect()
  })
  beforeEach(() => {
    user = `u${++run}-${Math.random().toString(36).slice(2, 8)}`
    budgets[user] = 2.5
  })

  it('peek: limits from constants and functions, in the rule units, charging nothing; a second peek is identical', async () => {
    expect(await admitted(3)).toBe(3)
    const first = await limiter.peek({ user })
    const second = await limiter.peek({ user })
    // A rule with nothing used is replenished "now", which moves; everything else must not.
    const strip = (list: typeof first) =>
      list.map(({ resetMs: _, resetAt, ...rest }) => ({ ...rest, resetAt: rest.used > 0 ? resetAt : 0 }))
    expect(strip(second)).toEqual(strip(first))
    expect(first.map((rule) => [rule.name, rule.limit, rule.used, rule.remaining, rule.source])).toEqual([
      ['req', 5, 3, 2, 'rule'],
      ['spend', 2.5, 0, 2.5, 'function'],
      ['tpm', 1000, 0, 1000, 'rule'],
    ])
    expect(await admitted(5)).toBe(2)
  })

  it('adjust: exact charges and refunds in the current window, in USD for cost rules', async () => {
    await limiter.adjust({ user }, 'spend', 1.25)
    expect((await state('spend')).used).toBe(1.25)
    await limiter.adjust({ user }, 'spend', -0.5)
    expect((await state('spend')).used).toBe(0.75)
    await limiter.adjust({ user }, 'tpm', 300)
    await limiter.adjust({ user }, 'tpm', -100)
    expect((await state('tpm')).used).toBe(200)
    await limiter.adjust({ user }, 'req', 4)
    expect(await admitted(3)).toBe(1)
    await limiter.adjust({ user }, 'req', -2)
    expect(await admitted(3)).toBe(2)
    await expect(limiter.adjust({ user }, 'nope', 1)).rejects.toThrow(/No rule named 'nope'.*req, spend, tpm/)
  })

  it('reset: one rule, then every rule', async () => {
    expect(await admitted(5)).toBe(5)
    await limiter.adjust({ user }, 'tpm', 500)
    await limiter.reset({ user }, 'req')
    expect((await state('req')).used).toBe(0)
    expect((await state('tpm')).used).toBe(500)
    await limiter.reset({ user })
    expect((await state('tpm')).used).toBe(0)
    expect(await admitted(6)).toBe(5)
  })

  it('setLimit beats constants and functions; clearLimit restores them', async () => {
    await limiter.setLimit({ user }, 'req', 8)
    await limiter.setLimit({ user }, 'spend', 40)
    expect(await state('req')).toMatchObject({ limit: 8, source: 'override' })
    expect(await state('spend')).toMatchObject({ limit: 40, source: 'override' })
    expect(await admitted(10)).toBe(8)
    await limiter.clearLimit({ user }, 'req')
    await limiter.clearLimit({ user }, 'spend')
    expect(await state('req')).toMatchObject({ limit: 5, used: 8, remaining: 0, source: 'rule' })
    expect((await state('spend')).limit).toBe(2.5)
    expect(await admitted(1)).toBe(0)
    await expect(limiter.setLimit({ user }, 'req', -1)).rejects.toThrow(/positive/)
  })

  it('block: 403 with the reason (429 by option), checked before the rules; unblock', async () => {
    await limiter.block({ user }, { ms: 60_000, reason: 'abuse of the free tier' })
    const blocked = await limiter.check(request(user))
    expect(blocked).toMatchObject({ allowed: false, status: 403, reason: 'blocked' })
    expect(blocked.message).toMatch(/abuse of the free tier/)
    expect((await state('req')).used).toBe(0)
    await limiter.block({ user }, { ms: 60_000, reason: 'slow down', status: 429 })
    const slowed = await limiter.check(request(user))
    expect(slowed.status).toBe(429)
    expect(slowed.retryAfterMs).toBeGreaterThan(0)
    await limiter.unblock({ user })
    expect(await admitted(1)).toBe(1)
    await expect(limiter.block({ user }, { ms: 0, reason: 'x' })).rejects.toThrow(/ms/)
  })

  it('updateRules keeps counters of rules whose name and measure did not change', async () => {
    expect(await admitted(4)).toBe(4)
    const other = createLimiter({ store: limiter.store, rules: rules(), controls: true })
    other.updateRules([{ name: 'req', by: 'user', requests: 6, per: 'day' }])
    expect((await other.peek({ user })).map((rule) => [rule.name, rule.limit, rule.used])).toEqual([
      ['req', 6, 4],
    ])
    let count = 0
    for (let i = 0; i < 5; i++) if ((await other.check(request(user))).allowed) count++
    expect(count).toBe(2)
    expect(() => other.updateRules([{ name: 'req', by: 'user', tokens: 6, per: 'day' }])).toThrow(
      /measured requests and now measures tokens/,
    )
  })

  it('onThreshold: once per window, identity and fraction', async () => {
    expect(await admitted(3)).toBe(3)
    expect(crossed.filter((event) => event.user === user)).toEqual([])
    expect(await admitted(1)).toBe(1)
    await vi.waitFor(() => expect(crossed.filter((event) => event.user === user)).toHaveLength(1))
    expect(await admitted(1)).toBe(1)
    await vi.waitFor(() => expect(crossed.filter((event) => event.user === user)).toHaveLength(2))
    await limiter.adjust({ user }, 'req', -2)
    expect(await admitted(2)).toBe(2)
    await limiter.peek({ user })
    expect(crossed.filter((event) => event.user === user)).toEqual([
      { user, rule: 'req', fraction: 0.8 },
      { user, rule: 'req', fraction: 1 },
    ])
  })

  it("calendar 'week': one window from Monday 00:00 UTC to the next", async () => {
    const weekly = createLimiter({
      store: limiter.store,
      rules: [{ name: 'wk', by: 'user', requests: 3, per: 'week' }],
    })
    let count = 0
    for (let i = 0; i < 5; i++) if ((await weekly.check(request(user))).allowed) count++
    expect(count).toBe(3)
    const [state] = await weekly.peek({ user })
    const now = state.resetAt - state.resetMs
    expect(new Date(state.resetAt).getUTCDay()).toBe(1)
    expect(state.resetAt % 86_400_000).toBe(0)
    expect(state.resetAt - now).toBeLessThanOrEqual(7 * 86_400_000)
    expect(state.resetAt).toBeGreaterThan(now)
    expect(state).toMatchObject({ used: 3, remaining: 0 })
  })
})
