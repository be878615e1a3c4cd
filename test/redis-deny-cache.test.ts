import type { StoreCheck, StoreContext } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisProcess, ready, redisClient, startRedis } from './support/redis-servers.js'

let redis: RedisProcess
const clients: Redis[] = []
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  for (const client of clients) client.disconnect()
  await redis?.stop()
})

/** A daily budget of 100 units (think micro-USD) for one user: a denial here waits for the next UTC day. */
const budget = (cost: number): StoreCheck => ({
  key: 'budget:u1',
  group: 'u1',
  rule: 'budget',
  algorithm: 'fixed-window',
  limit: 100,
  burst: 100,
  windowMs: 0,
  calendar: 'day',
  cost,
})

/** Two processes' stores on one Redis, each with its own client, deny cache and (fake, monotonic) clock. */
async function twoProcesses(prefix: string, localDenyMs?: number) {
  const clock = { a: 0, b: 0 }
  const make = async (side: 'a' | 'b') => {
    const client = redisClient(redis.port)
    clients.push(client)
    await ready(client)
    return redisStore({ client, prefix, localDenyMs, now: () => clock[side] })
  }
  return { a: await make('a'), b: await make('b'), clock }
}

let ids = 0
const context = (): StoreContext => ({ requestId: `r${++ids}` })

describe('a refund in one process reaches the other process’s deny cache within localDenyMs', () => {
  it('the other process admits the caller again once localDenyMs (1 s by default) has passed, not before', async () => {
    const { a, b, clock } = await twoProcesses('deny-bound:')
    const spent = await b.consume([budget(80)], context())
    expect(spent.allowed).toBe(true)
    // Process A is refused and remembers it: the budget is spent until tomorrow.
    const refused = await a.consume([budget(50)], context())
    expect(refused.allowed).toBe(false)
    expect(a.deniedLocally?.([budget(50)])?.allowed).toBe(false)
    // Process B refunds what it reserved (the call was cheaper than estimated).
    await b.adjust([{ check: budget(80), window: spent.results[0].window, delta: -70 }], context())
    // B sees it at once; A may trust its cached denial for just under localDenyMs.
    expect((await b.consume([budget(0)], context())).results[0].remaining).toBe(90)
    clock.a = 999
    expect((await a.consume([budget(50)], context())).allowed).toBe(false)
    clock.a = 1000
    const again = await a.consume([budget(50)], context())
    expect(again.allowed).toBe(true)
    expect(again.results[0].remaining).toBe(40)
  })

  it('negative control: a deny cache trusted until the retry time (the day’s end) keeps refusing after the refund', async () => {
    const { a, b, clock } = await twoProcesses('deny-unbounded:', 86_400_000)
    const spent = await b.consume([budget(80)], context())
    expect((await a.consume([budget(50)], context())).allowed).toBe(false)
    await b.adjust([{ check: budget(80), window: spent.results[0].window, delta: -70 }], context())
    clock.a = 1000
    expect((await a.consume([budget(50)], context())).allowed).toBe(false)
  })
})
