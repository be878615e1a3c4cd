import { createLimiter } from '@llm-limit/core'
import { type FlexibleLimiter, rateLimiterFlexibleStore } from '@llm-limit/redis'
import { storeContract } from '@llm-limit/testing'
import type { Redis } from 'ioredis'
import pg from 'pg'
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRedis } from 'rate-limiter-flexible'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisProcess, ready, redisClient, startRedis } from './support/redis-servers.js'

const store = () => rateLimiterFlexibleStore({ create: (options) => new RateLimiterMemory(options) })
const request = { method: 'GET', path: '/', headers: {}, ip: '10.0.0.9' }
const run = `${process.pid}_${Date.now().toString(36)}`
const realTime = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms + 20))

const table = `llm_limit_rlf_${run}`
let postgres: pg.Pool
let redis: RedisProcess
const clients: Redis[] = []

/** Connects to the machine's PostgreSQL (trust auth; the role is `postgres` or `root`), or fails loudly: never skips. */
async function connectPostgres(): Promise<pg.Pool> {
  const errors: string[] = []
  for (const user of process.env.PGUSER ? [process.env.PGUSER] : ['postgres', 'root']) {
    const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, database: 'test', user, max: 4 })
    try {
      await pool.query('SELECT 1')
      return pool
    } catch (error) {
      errors.push(`${user}: ${error instanceof Error ? error.message : String(error)}`)
      await pool.end().catch(() => {})
    }
  }
  throw new Error(
    `The rate-limiter-flexible bridge suite needs PostgreSQL on 127.0.0.1:5432 (database 'test', trust auth for user postgres or root) and could not connect (${errors.join('; ')}). Start it (e.g. service postgresql start) or set PGUSER.`,
  )
}

beforeAll(async () => {
  ;[postgres, redis] = await Promise.all([connectPostgres(), startRedis()])
}, 30_000)

afterAll(async () => {
  await postgres?.query(`DROP TABLE IF EXISTS "${table}"`)
  await postgres?.end()
  for (const client of clients) client.disconnect()
  await redis?.stop()
})

/** RateLimiterPostgres gets ready asynchronously (it creates its table); the bridge waits for it. */
const postgresLimiter = (options: { points: number; duration: number; keyPrefix: string }) =>
  new Promise<FlexibleLimiter>((resolve, reject) => {
    const limiter: RateLimiterPostgres = new RateLimiterPostgres(
      {
        storeClient: postgres,
        storeType: 'pool',
        tableName: table,
        clearExpiredByTimeout: false,
        ...options,
      },
      (error?: Error) => (error ? reject(error) : setImmediate(() => resolve(limiter))),
    )
  })

storeContract(
  'rate-limiter-flexible (RateLimiterPostgres)',
  async () => ({
    store: rateLimiterFlexibleStore({ create: postgresLimiter, keyPrefix: `contract-${run}` }),
    advance: realTime,
  }),
  { concurrency: false },
)

storeContract(
  'rate-limiter-flexible (RateLimiterRedis)',
  async () => {
    const client = redisClient(redis.port)
    clients.push(client)
    await ready(client)
    return {
      store: rateLimiterFlexibleStore({
        create: (options) => new RateLimiterRedis({ storeClient: client, ...options }),
        keyPrefix: `contract-${run}`,
      }),
      advance: realTime,
    }
  },
  { concurrency: false },
)

describe('rateLimiterFlexibleStore', () => {
  it('really stores in PostgreSQL, in the table it was given', async () => {
    const limiter = createLimiter({
      store: rateLimiterFlexibleStore({ create: postgresLimiter, keyPrefix: `rows-${run}` }),
      rules: [{ name: 'rpm', requests: 3, per: '1m' }],
    })
    await limiter.check(request)
    await limiter.check(request)
    const rows = await postgres.query<{ points: number }>(`SELECT points FROM "${table}" WHERE key LIKE $1`, [
      `rows-${run}:%`,
    ])
    expect(rows.rows.map((row) => row.points)).toEqual([2])
  })

  it('limits requests through an RLF limiter', async () => {
    const limiter = createLimiter({ store: store(), rules: [{ name: 'rpm', requests: 3, per: '1m' }] })
    const allowed = []
    for (let i = 0; i < 5; i++) allowed.push((await limiter.check(request)).allowed)
    expect(allowed).toEqual([true, true, true, false, false])
    const denied = await limiter.check(request)
    expect(denied.retryAfterMs).toBeGreaterThan(0)
  })

  it('compensates: a denial by a later rule leaves earlier rules as they were', async () => {
    const limiter = createLimiter({
      store: store(),
      rules: [
        { name: 'wide', requests: 100, per: '1m' },
        { name: 'narrow', requests: 1, per: '1m' },
      ],
    })
    await limiter.check(request)
    const denied = await limiter.check(request)
    expect(denied.allowed).toBe(false)
    const again = await limiter.check(request)
    expect(again.rules.find((rule) => rule.name === 'wide')?.remaining).toBe(99)
  })

  it('a token bucket with a smaller burst never admits more than the burst at once', async () => {
    const limiter = createLimiter({
      store: store(),
      rules: [{ name: 'tb', requests: 60, per: '1m', algorithm: 'token-bucket', burst: 5 }],
    })
    const allowed = []
    for (let i = 0; i < 8; i++) allowed.push((await limiter.check(request)).allowed)
    expect(allowed.filter(Boolean)).toHaveLength(5)
  })

  it('retries creating a limiter whose backend failed at first', async () => {
    let attempts = 0
    const flaky = rateLimiterFlexibleStore({
      create: async (options) => {
        attempts++
        if (attempts === 1) throw new Error('connection refused')
        return new RateLimiterMemory(options)
      },
    })
    const c = {
      key: 'r:g',
      group: 'g',
      rule: 'r',
      algorithm: 'fixed-window',
      limit: 2,
      burst: 2,
      windowMs: 1000,
      cost: 1,
    } as const
    await expect(flaky.consume([c], { requestId: 'a' })).rejects.toThrow(
      /create the limiter of rule 'r'.*connection refused/,
    )
    expect((await flaky.consume([c], { requestId: 'b' })).allowed).toBe(true)
  })

  it('refuses concurrency rules with a clear error', async () => {
    const limiter = createLimiter({
      store: store(),
      rules: [{ name: 'par', concurrent: 2 }],
      onStoreError: 'fail-closed',
    })
    await expect(
      store().consume(
        [{ key: 'k', group: 'g', algorithm: 'concurrency', limit: 2, burst: 2, windowMs: 1000, cost: 1 }],
        { requestId: 'x' },
      ),
    ).rejects.toThrow(/concurrency leases/)
    expect((await limiter.check(request)).status).toBe(503)
  })
})
