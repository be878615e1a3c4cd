import { createLimiter } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, type RedisProcess, ready, redisClient, startRedis } from './support/redis-servers.js'

let redis: RedisProcess
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})

const request = (ip: string) => ({ method: 'GET', path: '/', headers: {}, ip })

/** Options the docs recommend; the first client connects lazily (status 'wait'), the others at once. */
const client = (port: number, lazy = false) => {
  const made = new Redis({
    port,
    host: '127.0.0.1',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: lazy,
    retryStrategy: () => 50,
  })
  made.on('error', () => {})
  return made
}

describe('a Redis client that is still connecting is waited for, up to timeoutMs', () => {
  it('four processes serving at the moment their clients start connecting: zero 503s, exactly the limit admitted', async () => {
    const clients = [client(redis.port, true), client(redis.port), client(redis.port), client(redis.port)]
    expect(clients.map((c) => c.status)).toEqual(['wait', 'connecting', 'connecting', 'connecting'])
    const limiters = clients.map((c) =>
      createLimiter({
        store: redisStore({ client: c, prefix: 'startup:', timeoutMs: 2000 }),
        onStoreError: 'fail-closed',
        rules: [{ name: 'shared', by: 'global', requests: 150, per: 'day' }],
      }),
    )
    // Every process takes 100 requests in its first moments, before any client is ready.
    const decisions = await Promise.all(
      limiters.flatMap((limiter, p) =>
        Array.from({ length: 100 }, (_, i) => limiter.check(request(`10.${p}.0.${i}`))),
      ),
    )
    expect(decisions.filter((decision) => decision.status === 503)).toHaveLength(0)
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(150)
    for (const c of clients) c.disconnect()
  })

  it('with Redis stopped, a first connection that cannot succeed fails within timeoutMs', async () => {
    const port = await freePort()
    const stopped = client(port)
    const limiter = createLimiter({
      store: redisStore({ client: stopped, timeoutMs: 300 }),
      onStoreError: 'fail-closed',
      rules: [{ requests: 10, per: '1m' }],
    })
    const times: number[] = []
    for (let i = 0; i < 20; i++) {
      const started = performance.now()
      const decision = await limiter.check(request('10.7.7.7'))
      times.push(performance.now() - started)
      expect(decision.status).toBe(503)
      await new Promise((resolve) => setTimeout(resolve, 15))
    }
    // Within timeoutMs, with room for a busy machine; a refused connection usually fails at once.
    expect(Math.max(...times)).toBeLessThan(300 + 100)
    stopped.disconnect()
  })

  it('a black-holed first connection is waited for exactly timeoutMs, then fails', async () => {
    // A listener that accepts nothing useful: the TCP handshake completes, Redis never answers.
    const { createServer } = await import('node:net')
    const sockets: import('node:net').Socket[] = []
    const hole = createServer((socket) => sockets.push(socket))
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve))
    const port = (hole.address() as { port: number }).port
    const silent = client(port)
    const limiter = createLimiter({
      store: redisStore({ client: silent, timeoutMs: 200 }),
      onStoreError: 'fail-closed',
      rules: [{ requests: 10, per: '1m' }],
    })
    const started = performance.now()
    const decision = await limiter.check(request('10.8.8.8'))
    const took = performance.now() - started
    expect(decision.status).toBe(503)
    expect(took).toBeGreaterThanOrEqual(190)
    expect(took).toBeLessThan(200 + 150)
    silent.disconnect()
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => hole.close(resolve))
  })

  it('after a lost connection, decisions fail fast instead of waiting for the reconnect', async () => {
    const own = await startRedis()
    const c = redisClient(own.port)
    c.on('error', () => {})
    await ready(c)
    const limiter = createLimiter({
      store: redisStore({ client: c, prefix: 'lost:', timeoutMs: 1000 }),
      onStoreError: 'fail-closed',
      rules: [{ requests: 10, per: '1m' }],
    })
    expect((await limiter.check(request('10.6.6.6'))).allowed).toBe(true)
    await own.stop()
    await new Promise((resolve) => setTimeout(resolve, 50))
    const times: number[] = []
    for (let i = 0; i < 20; i++) {
      const started = performance.now()
      const decision = await limiter.check(request('10.6.6.6'))
      times.push(performance.now() - started)
      expect(decision.status).toBe(503)
      await new Promise((resolve) => setTimeout(resolve, 15))
    }
    // Far below timeoutMs (1 s): nobody waits for a reconnect.
    expect(Math.max(...times)).toBeLessThan(100)
    c.disconnect()
  })
})
