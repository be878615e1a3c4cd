import { createLimiter, type Limiter, type LimitRequest } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisProcess, ready, redisClient, startRedis } from './support/redis-servers.js'

/** Four limiters, each with its own client (as four processes would have), share one Redis. */
let server: RedisProcess
const clients: Redis[] = []
let fleet: Limiter[] = []
beforeAll(async () => {
  server = await startRedis()
  for (let i = 0; i < 4; i++) {
    const client = redisClient(server.port)
    await ready(client)
    clients.push(client)
  }
  fleet = clients.map((client) =>
    createLimiter({
      store: redisStore({ client }),
      controls: true,
      rules: [{ name: 'day', by: 'user', requests: 20, per: 'day' }],
      events: { onThreshold: (event) => crossings.push({ ...event }) },
    }),
  )
}, 60_000)
afterAll(async () => {
  for (const client of clients) client.disconnect()
  await server?.stop()
})

const crossings: { rule: string; fraction: number; used: number; limit: number }[] = []
const request = (user: string): LimitRequest => ({
  method: 'GET',
  path: '/x',
  headers: {},
  ip: '198.51.100.9',
  user,
})

/** Every limiter sends `each` requests at once; returns how many were admitted. */
async function race(user: string, each: number): Promise<number> {
  const admitted = await Promise.all(
    fleet.map(async (limiter) => {
      const decisions = await Promise.all(Array.from({ length: each }, () => limiter.check(request(user))))
      return decisions.filter((decision) => decision.allowed).length
    }),
  )
  let total = 0
  for (const count of admitted) total += count
  return total
}

describe('a fleet sharing one Redis', () => {
  it('applies a raised budget from every process’s next decision: old limit plus new headroom, exactly', async () => {
    const user = 'tenant-raise'
    expect(await race(user, 10)).toBe(20)
    // Every process is out of budget before the change.
    for (const limiter of fleet) expect((await limiter.check(request(user))).allowed).toBe(false)
    await fleet[0].setLimit({ user }, 'day', 50)
    // From its next decision on, each process applies the new limit.
    for (const limiter of fleet) expect((await limiter.check(request(user))).allowed).toBe(true)
    const after = await race(user, 20)
    expect(4 + after).toBe(30)
    expect((await fleet[2].peek({ user }))[0]).toMatchObject({ limit: 50, used: 50, remaining: 0 })
  })

  it('fires onThreshold exactly once per window, identity and fraction, with 4 limiters racing across it', async () => {
    crossings.length = 0
    const user = 'tenant-threshold'
    expect(await race(user, 8)).toBe(20)
    // Each limiter's claims went out on its connection before this peek: their answers are in when it returns.
    await Promise.all(fleet.map((limiter) => limiter.peek({ user })))
    const mine = crossings.map(({ fraction, used, limit }) => ({
      fraction,
      limit,
      reached: used >= fraction * limit,
    }))
    expect(mine.map((crossing) => crossing.fraction).sort()).toEqual([0.8, 1])
    expect(mine.every((crossing) => crossing.reached && crossing.limit === 20)).toBe(true)
    // A refund takes usage back under both fractions; crossing them again in the same window reports nothing.
    await fleet[1].adjust({ user }, 'day', -10)
    expect(await race(user, 8)).toBe(10)
    await Promise.all(fleet.map((limiter) => limiter.peek({ user })))
    expect(crossings).toHaveLength(2)
  })
})
