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
const HOUR = 3_600_000
const DAY = 24 * HOUR
const chat = (user: string): LimitRequest => ({
  ...request(user),
  method: 'POST',
  path: '/v1/chat/completions',
  body: { model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'Say hello.' }] },
})

/** `at` on the clock of `timeZone`, e.g. 'Mon 00:00:00', read with Intl (not with the code under test). */
function localTime(at: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  })
    .format(at)
    .replace(',', '')
}

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

  it('time-zone periods: a day ends at the next local midnight, a week at local Monday 00:00; a settled call lands in the zoned window', async () => {
    const zoned = createLimiter({
      store: limiter.store,
      rules: [
        { name: 'day-kol', by: 'user', requests: 2, per: 'day', timeZone: 'Asia/Kolkata' },
        { name: 'week-ny', by: 'user', requests: 9, per: 'week', timeZone: 'America/New_York' },
        { name: 'tok-kol', by: 'user', tokens: 100_000, per: 'day', timeZone: 'Asia/Kolkata' },
      ],
    })
    let count = 0
    for (let i = 0; i < 3; i++) if ((await zoned.check(request(user))).allowed) count++
    expect(count).toBe(2)
    const denied = await zoned.check(request(user))
    expect(denied.message).toContain('per day (Asia/Kolkata)')
    const [day, week] = await zoned.peek({ user })
    const now = day.resetAt - day.resetMs
    // Kolkata is UTC+5:30 all year: its midnight is 18:30 UTC, never UTC midnight (the negative control).
    const offset = 5.5 * HOUR
    expect(day.resetAt).toBe(Math.floor((now + offset) / DAY) * DAY + DAY - offset)
    expect(day.resetAt % DAY).toBe(DAY - offset)
    expect(day).toMatchObject({ used: 2, remaining: 0 })
    // New York's Monday 00:00, read on New York's own clock; a week is 7 days, give or take a clock change.
    expect(localTime(week.resetAt, 'America/New_York')).toBe('Mon 00:00:00')
    expect(week.resetAt - now).toBeLessThanOrEqual(7 * DAY + HOUR)
    expect(week.resetAt).toBeGreaterThan(now)

    const call = await zoned.check(chat(user))
    expect(call.allowed).toBe(false) // the day is spent; tokens were not charged
    const other = `${user}-tokens`
    const allowed = await zoned.check(chat(other))
    expect(allowed.allowed).toBe(true)
    await allowed.commit({ inputTokens: 10, outputTokens: 5 })
    const tokens = (await zoned.peek({ user: other })).find((rule) => rule.name === 'tok-kol')
    expect(tokens).toMatchObject({ used: 15, remaining: 100_000 - 15 })
  })

  it('updateRules moving a calendar rule to another zone starts it afresh (another window start)', async () => {
    const local = createLimiter({
      store: limiter.store,
      rules: [{ name: 'day-tz', by: 'user', requests: 2, per: 'day', timeZone: 'Asia/Kolkata' }],
    })
    expect((await local.check(request(user))).allowed).toBe(true)
    expect((await local.check(request(user))).allowed).toBe(true)
    expect((await local.check(request(user))).allowed).toBe(false)
    local.updateRules([{ name: 'day-tz', by: 'user', requests: 2, per: 'day' }])
    expect((await local.peek({ user }))[0]).toMatchObject({ used: 0, remaining: 2 })
    expect((await local.check(request(user))).allowed).toBe(true)
    expect((await local.peek({ user }))[0]).toMatchObject({ used: 1 })
  })

  it('a decision denied by another identity rule leaves a zoned counter as it was (Cluster: undone in its window)', async () => {
    const both = createLimiter({
      store: limiter.store,
      rules: [
        { name: 'zoned-user', by: 'user', requests: 10, per: 'day', timeZone: 'America/New_York' },
        { name: 'per-ip', by: 'ip', requests: 1, per: 'day' },
      ],
    })
    const ip = `203.0.113.${run % 250}`
    const from = (address: string) => ({ ...request(user), ip: address })
    expect((await both.check(from(ip))).allowed).toBe(true)
    // The ip rule denies; on a Cluster the user's slot admitted it tentatively and must be undone exactly.
    expect((await both.check(from(ip))).allowed).toBe(false)
    expect((await both.check(from(ip))).allowed).toBe(false)
    const [zonedUser] = await both.peek({ user, ip })
    expect(zonedUser).toMatchObject({ name: 'zoned-user', used: 1, remaining: 9 })
  })
})

describe('time-zone periods on the memory store (fake clock)', () => {
  it('a New York day across both 2026 clock changes: 23 hours on March 8, 25 on November 1; a UTC rule resets at 00:00 UTC', async () => {
    let now = Date.parse('2026-03-08T04:59:00Z') // 23:59 on March 7 in New York
    const store = memoryStore({ now: () => now })
    const york = createLimiter({
      store,
      rules: [{ name: 'ny', by: 'user', requests: 1, per: 'day', timeZone: 'America/New_York' }],
    })
    const utc = createLimiter({ store, rules: [{ name: 'utc', by: 'user', requests: 1, per: 'day' }] })
    const resetOf = async (limiter: Limiter) => (await limiter.peek({ user: 'ana' }))[0].resetAt
    expect((await york.check(request('ana'))).allowed).toBe(true)
    expect((await utc.check(request('ana'))).allowed).toBe(true)
    expect(await resetOf(york)).toBe(Date.parse('2026-03-08T05:00:00Z'))
    expect(await resetOf(utc)).toBe(Date.parse('2026-03-09T00:00:00Z'))
    now = Date.parse('2026-03-08T05:00:00Z')
    expect((await york.check(request('ana'))).allowed).toBe(true)
    expect((await utc.check(request('ana'))).allowed).toBe(false)
    expect(await resetOf(york)).toBe(Date.parse('2026-03-09T04:00:00Z'))
    now = Date.parse('2026-03-09T03:59:59.999Z')
    expect((await york.check(request('ana'))).allowed).toBe(false)
    now = Date.parse('2026-03-09T04:00:00Z')
    expect((await york.check(request('ana'))).allowed).toBe(true)

    now = Date.parse('2026-11-01T04:00:00Z') // midnight, EDT
    expect((await york.check(request('ana'))).allowed).toBe(true)
    expect(await resetOf(york)).toBe(Date.parse('2026-11-02T05:00:00Z'))
    // 01:30 EDT and 01:30 EST: the repeated hour is still November 1.
    for (const time of ['2026-11-01T05:30:00Z', '2026-11-01T06:30:00Z', '2026-11-02T04:59:59.999Z']) {
      now = Date.parse(time)
      expect((await york.check(request('ana'))).allowed).toBe(false)
    }
    now = Date.parse('2026-11-02T05:00:00Z')
    expect((await york.check(request('ana'))).allowed).toBe(true)
  })
})
