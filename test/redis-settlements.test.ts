import { createLimiter } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js'
import { type RedisProcess, ready, startRedis } from './support/redis-servers.js'

let redis: RedisProcess
let proxy: FaultProxy
let admin: Redis
beforeAll(async () => {
  redis = await startRedis()
  proxy = await startFaultProxy(redis.port)
  admin = new Redis({ port: redis.port, host: '127.0.0.1' })
})
afterAll(async () => {
  admin?.disconnect()
  await proxy?.close()
  await redis?.stop()
})

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A client through the proxy, reconnecting every 50 ms. */
async function proxied(): Promise<Redis> {
  const client = new Redis({
    port: proxy.port,
    host: '127.0.0.1',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
  })
  client.on('error', () => {})
  await ready(client)
  return client
}

/** Cuts every connection and refuses new ones for `ms`, running `during` meanwhile. */
async function disconnect<T>(ms: number, during: () => Promise<T>): Promise<T> {
  proxy.mode = 'refuse'
  proxy.reset()
  await pause(20)
  const result = await during()
  await pause(ms)
  proxy.mode = 'pass'
  return result
}

describe('settlements survive a disconnect', () => {
  it('a lease released during a 700 ms disconnect is released once Redis is back, not after the lease TTL', async () => {
    const client = await proxied()
    const store = redisStore({ client, prefix: 'release-retry:' })
    const limiter = createLimiter({
      store,
      onStoreError: 'fail-closed',
      rules: [{ name: 'one-at-a-time', by: 'user', concurrent: 1 }],
    })
    const request = { method: 'GET', path: '/', headers: {}, ip: '10.3.3.3', user: 'u' } as never
    const first = await limiter.check(request)
    expect(first.allowed).toBe(true)
    await disconnect(700, () => first.release())
    expect(store.pendingSettlements()).toBe(1)
    await ready(client)
    const back = performance.now()
    while (store.pendingSettlements() > 0 && performance.now() - back < 3000) await pause(10)
    expect(store.pendingSettlements()).toBe(0)
    // Within one retry interval of the reconnect (goal: at once on 'ready'; bound generous).
    expect(performance.now() - back).toBeLessThan(1000)
    const second = await limiter.check(request)
    expect(second.allowed).toBe(true)
    await second.release()
    client.disconnect()
  })

  it('a token correction retried within idempotencyMs lands once; past it only the lease release is retried', async () => {
    const client = await proxied()
    let clock = 0
    const store = redisStore({ client, prefix: 'narrow:', idempotencyMs: 10_000, now: () => clock })
    const tokens = {
      key: 'tok:g',
      group: 'g',
      rule: 'tok',
      algorithm: 'fixed-window' as const,
      limit: 1000,
      burst: 1000,
      windowMs: 3_600_000,
      cost: 100,
    }
    const lease = {
      ...tokens,
      key: 'par:g',
      rule: 'par',
      algorithm: 'concurrency' as const,
      limit: 5,
      burst: 5,
      cost: 1,
    }
    const early = await store.consume([tokens, lease], { requestId: 'early' })
    const late = await store.consume([tokens, lease], { requestId: 'late' })
    expect(late.allowed && early.allowed).toBe(true)
    const settle = (result: typeof early, id: string) =>
      store
        .adjust(
          [
            { check: tokens, window: result.results[0].window, delta: -60 },
            { check: lease, window: 0, delta: -1 },
          ],
          { requestId: id },
        )
        .catch((error: unknown) => error)
    const failures = await disconnect(100, async () => {
      const old = await settle(early, 'early')
      clock = 5_000
      return [old, await settle(late, 'late')]
    })
    expect(
      failures.every((failure) => failure instanceof Error && /kept and retried/.test(failure.message)),
    ).toBe(true)
    // 'early' (first tried at 0) is now past its correction's life, 0.9 × idempotencyMs: the record that keeps a
    // retry from applying twice may be gone. 'late' (first tried at 5 s) is not.
    clock = 9_500
    await ready(client)
    while (store.pendingSettlements() > 0) await pause(10)
    const peek = await store.consume(
      [
        { ...tokens, cost: 0 },
        { ...lease, cost: 0 },
      ],
      { requestId: 'peek' },
    )
    // 200 charged, 60 refunded once (late), early's refund dropped; both leases released.
    expect(peek.results[0].remaining).toBe(1000 - 200 + 60)
    expect(peek.results[1].remaining).toBe(5)
    client.disconnect()
  })
})
