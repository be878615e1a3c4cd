import { validateHeaderValue } from 'node:http'
import { createLimiter, formatHeaders, isLlmLimitError, memoryStore } from '@llm-limit/core'
import { CONSUME_LUA, redisStore } from '@llm-limit/redis'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFaultProxy } from './support/fault-proxy.js'
import {
  freePort,
  type RedisProcess,
  ready,
  redisClient,
  startCluster,
  startRedis,
} from './support/redis-servers.js'

let redis: RedisProcess
let cluster: Awaited<ReturnType<typeof startCluster>>
let admin: Redis
beforeAll(async () => {
  ;[redis, cluster] = await Promise.all([startRedis(), startCluster()])
  admin = new Redis({ port: redis.port, host: '127.0.0.1' })
})
afterAll(async () => {
  admin?.disconnect()
  await redis?.stop()
  await cluster?.stop()
})

const request = (ip = '10.0.0.1') => ({ method: 'GET', path: '/', headers: {}, ip })
const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.ceil(values.length * 0.99) - 1]

describe('Redis store', () => {
  it('refuses bad options at construction, naming them', () => {
    const client = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true })
    const refused = (options: unknown) => {
      try {
        redisStore(options as never)
      } catch (error) {
        expect(isLlmLimitError(error) && error.code).toBe('ERR_CONFIG')
        return (error as Error).message
      }
      throw new Error('expected ERR_CONFIG')
    }
    expect(refused(undefined)).toMatch(/redisStore\(\{ client \}\)/)
    expect(refused({ client, timeoutMs: -1 })).toMatch(/timeoutMs.*got -1/)
    expect(refused({ client, timeoutMs: '200' })).toMatch(/timeoutMs.*got "200"/)
    // A hash tag in the prefix would put every key of every identity in one Cluster slot.
    expect(refused({ client, prefix: 'app{1}:' })).toMatch(/prefix.*one Cluster slot/)
    expect(refused({ client, localDenyMs: -5 })).toMatch(/localDenyMs.*got -5/)
    expect(refused({ client, now: 5 })).toMatch(/redisStore\(\{ now \}\)/)
    client.disconnect()
  })

  it('a standalone decision with 5 rules on one identity is exactly one Redis command', async () => {
    const client = redisClient(redis.port)
    await ready(client)
    const limiter = createLimiter({
      store: redisStore({ client, prefix: 'one-command:' }),
      rules: [
        { name: 'r1', by: 'user', requests: 10, per: '1s' },
        { name: 'r2', by: 'user', requests: 100, per: '1m', algorithm: 'sliding-window' },
        { name: 'r3', by: 'user', requests: 1000, per: 'day' },
        { name: 'r4', by: 'user', tokens: 10_000, per: '1m' },
        { name: 'r5', by: 'user', concurrent: 5 },
      ],
    })
    const decide = () => limiter.check({ ...request(), user: 'alice' } as never)
    await decide() // loads the script
    // MONITOR shows what clients send; commands a script runs inside Redis are marked "lua".
    const monitor = await admin.monitor()
    const sent: string[] = []
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua') sent.push(args[0].toLowerCase())
    })
    const decision = await decide()
    await new Promise((resolve) => setTimeout(resolve, 100))
    monitor.disconnect()
    expect(decision.allowed).toBe(true)
    expect(decision.rules).toHaveLength(5)
    expect(sent).toEqual(['evalsha'])
    // Negative control: the harness sees every command, here five separate ones.
    const control = await admin.monitor()
    const seen: string[] = []
    control.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua') seen.push(args[0].toLowerCase())
    })
    for (let i = 0; i < 5; i++) await client.get(`one-command:control:${i}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    control.disconnect()
    expect(seen).toHaveLength(5)
    client.disconnect()
  })

  it('a hammering client is denied from the local cache without a round trip', async () => {
    const client = redisClient(redis.port)
    await ready(client)
    const limiter = createLimiter({
      store: redisStore({ client, prefix: 'hammer:' }),
      rules: [{ name: 'two', requests: 2, per: '1m' }],
    })
    await limiter.check(request('10.4.4.4'))
    await limiter.check(request('10.4.4.4'))
    expect((await limiter.check(request('10.4.4.4'))).allowed).toBe(false)
    const monitor = await admin.monitor()
    const sent: string[] = []
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua') sent.push(args[0])
    })
    const hammered = await Promise.all(Array.from({ length: 100 }, () => limiter.check(request('10.4.4.4'))))
    // Another client is still decided by Redis, exactly.
    const other = await limiter.check(request('10.5.5.5'))
    await new Promise((resolve) => setTimeout(resolve, 100))
    monitor.disconnect()
    expect(hammered.every((decision) => !decision.allowed && decision.retryAfterMs > 0)).toBe(true)
    expect(other.allowed).toBe(true)
    expect(sent).toEqual(['evalsha'])
    client.disconnect()
  })

  it('hostile identities never produce CROSSSLOT, a key collision, or a header error', async () => {
    const client = cluster.client()
    await ready(client)
    const hostile = [
      'x}{zz',
      '{tag}',
      '}',
      '{',
      'a\r\nSET evil 1',
      'é😀🚀',
      'k'.repeat(10_240),
      '',
      ' ',
      '\u0000',
      'x}{zz ',
      'X}{ZZ',
    ]
    const limiter = createLimiter({
      store: redisStore({ client, prefix: 'hostile:' }),
      rules: [
        { name: 'per-user', by: (identity) => identity.user ?? '', requests: 2, per: '1m' },
        { name: 'per-user-tokens', by: (identity) => identity.user ?? '', tokens: 1000, per: '1m' },
        { name: 'per-ip', by: 'ip', requests: 1000, per: '1m' },
      ],
    })
    for (const user of hostile) {
      for (let i = 0; i < 2; i++) {
        const decision = await limiter.check({ ...request(), user } as never)
        // Each identity has its own bucket: two admitted, whoever came before.
        expect(decision.allowed, JSON.stringify(user)).toBe(true)
        for (const [name, value] of Object.entries(formatHeaders(decision)))
          expect(() => validateHeaderValue(name, value)).not.toThrow()
      }
      expect((await limiter.check({ ...request(), user } as never)).allowed).toBe(false)
    }
  })

  it('commands time out at timeoutMs through a silent socket', async () => {
    const proxy = await startFaultProxy(redis.port)
    const client = redisClient(proxy.port)
    await ready(client)
    proxy.mode = 'silent'
    const limiter = createLimiter({
      store: redisStore({ client, timeoutMs: 100 }),
      onStoreError: 'fail-closed',
      rules: [{ requests: 10, per: '1m' }],
    })
    const times: number[] = []
    for (let i = 0; i < 5; i++) {
      const started = performance.now()
      const decision = await limiter.check(request())
      times.push(performance.now() - started)
      expect(decision.status).toBe(503)
      await new Promise((resolve) => setTimeout(resolve, 260))
    }
    // Goal: within timeoutMs + 20 ms; the bound here is generous for a busy CI machine.
    expect(Math.max(...times)).toBeLessThan(100 + 200)
    client.disconnect()
    await proxy.close()
  })

  it('refused connections: every decision returns fast and honours onStoreError', async () => {
    const port = await freePort()
    const client = new Redis({
      port,
      host: '127.0.0.1',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: false,
      retryStrategy: () => 100,
    })
    client.on('error', () => {})
    for (const policy of ['fail-open', 'fail-closed'] as const) {
      const limiter = createLimiter({
        store: redisStore({ client }),
        onStoreError: policy,
        rules: [{ requests: 10, per: '1m' }],
      })
      const times: number[] = []
      for (let i = 0; i < 200; i++) {
        const started = performance.now()
        const decision = await limiter.check(request())
        times.push(performance.now() - started)
        expect(decision.allowed).toBe(policy === 'fail-open')
      }
      expect(p99(times)).toBeLessThan(100)
    }
    client.disconnect()
  })

  it('a reply dropped after Redis applied the command: the caller was told it failed, so nothing stays charged, even when resent', async () => {
    const proxy = await startFaultProxy(redis.port)
    const client = redisClient(proxy.port)
    await ready(client)
    client.on('error', () => {})
    const store = redisStore({ client, prefix: 'dropped:', timeoutMs: 200 })
    const check = {
      key: 'k',
      group: 'g',
      rule: 'r',
      algorithm: 'fixed-window' as const,
      limit: 100,
      burst: 100,
      windowMs: 60_000,
      cost: 7,
    }
    await store.consume([{ ...check, cost: 0 }], { requestId: 'warm' })
    proxy.mode = 'drop-replies'
    const failure = await store.consume([check], { requestId: 'lost-reply' }).catch((error: unknown) => error)
    expect(isLlmLimitError(failure) && failure.code).toBe('ERR_STORE_TIMEOUT')
    proxy.mode = 'pass'
    proxy.reset()
    await ready(client)
    // The undo of the failed decision is kept and retried until it lands.
    for (let i = 0; i < 100 && store.pendingSettlements() > 0; i++)
      await new Promise((r) => setTimeout(r, 20))
    expect(store.pendingSettlements()).toBe(0)
    // The same command sent again (by the caller or by ioredis) is refused, never charged.
    const resent = await store.consume([check], { requestId: 'lost-reply' }).catch((error: unknown) => error)
    expect(isLlmLimitError(resent) && resent.code).toBe('ERR_STORE')
    const peek = await store.consume([{ ...check, cost: 0 }], { requestId: 'peek' })
    expect(peek.results[0].remaining).toBe(100)
    // Control: a new id is charged.
    await store.consume([check], { requestId: 'fresh' })
    const after = await store.consume([{ ...check, cost: 0 }], { requestId: 'peek-2' })
    expect(after.results[0].remaining).toBe(93)
    client.disconnect()
    await proxy.close()
  })

  it('a decision that reaches Redis after its deadline (in Redis time) is not applied at all', async () => {
    const client = redisClient(redis.port)
    await ready(client)
    client.defineCommand('rawConsume', { lua: CONSUME_LUA })
    const raw = client as unknown as { rawConsume(args: (string | number)[]): Promise<number[]> }
    const [seconds, micros] = await admin.time()
    const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
    // One fixed-window key (limit 100, 1 h), one decision of cost 7, under a deadline.
    const call = (deadline: number, id: string) =>
      raw.rawConsume([
        2,
        'deadline:{t}:k',
        'deadline:{t}:ids',
        120_000,
        deadline,
        0,
        1000,
        1,
        3,
        100,
        100,
        3_600_000,
        0,
        1,
        1,
        1,
        7,
        1,
        1,
        1,
        id,
      ])
    const late = await call(redisNow - 1000, 'late')
    expect(late[1]).toBe(-1)
    expect(await admin.hget('deadline:{t}:k', 'c')).toBeNull()
    // Control: the same call within its deadline is applied.
    const inTime = await call(redisNow + 60_000, 'in-time')
    expect(inTime[1]).toBe(0)
    expect(await admin.hget('deadline:{t}:k', 'c')).toBe('7')
    client.disconnect()
  })

  it('SCRIPT FLUSH under load loses and doubles nothing', async () => {
    const client = redisClient(redis.port)
    await ready(client)
    const limiter = createLimiter({
      store: redisStore({ client, prefix: 'flush:', localDenyCache: false }),
      rules: [{ name: 'g', by: 'global', requests: 500, per: '1d', algorithm: 'sliding-window' }],
    })
    let flushing = true
    const flusher = (async () => {
      while (flushing) {
        await admin.script('FLUSH')
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
    })()
    const decisions = await Promise.all(Array.from({ length: 1500 }, () => limiter.check(request())))
    flushing = false
    await flusher
    expect(decisions.filter((d) => d.status === 503)).toHaveLength(0)
    expect(decisions.filter((d) => d.allowed)).toHaveLength(500)
    client.disconnect()
  })

  it('Redis killed and restarted: the insurance store limits meanwhile, and Redis serves again within 1 s', async () => {
    const own = await startRedis()
    const client = redisClient(own.port)
    client.on('error', () => {})
    await ready(client)
    const limiter = createLimiter({
      store: redisStore({ client, prefix: 'restart:' }),
      onStoreError: { insurance: memoryStore() },
      rules: [{ name: 'five', requests: 5, per: '1h', algorithm: 'fixed-window' }],
    })
    expect((await limiter.check(request('10.1.1.1'))).allowed).toBe(true)
    await own.stop()
    const whileDown = []
    for (let i = 0; i < 7; i++) whileDown.push((await limiter.check(request('10.2.2.2'))).allowed)
    // The insurance memory store took over and limits: 5 admitted, then denied.
    expect(whileDown).toEqual([true, true, true, true, true, false, false])
    await own.restart()
    const restarted = performance.now()
    const probe = createLimiter({
      store: redisStore({ client, prefix: 'restart:' }),
      onStoreError: 'fail-closed',
      rules: [{ name: 'five', requests: 5, per: '1h', algorithm: 'fixed-window' }],
    })
    let served = false
    while (!served && performance.now() - restarted < 5000) {
      served = (await probe.check(request('10.3.3.3'))).status === 200
      if (!served) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(served).toBe(true)
    expect(performance.now() - restarted).toBeLessThan(1000)
    client.disconnect()
    await own.stop()
  })

  it('a standalone decision that mixes identities counts each rule under its own identity', async () => {
    const client = redisClient(redis.port)
    await ready(client)
    const limiter = createLimiter({
      store: redisStore({ client, prefix: 'mixed:', localDenyCache: false }),
      rules: [
        { name: 'per-ip', by: 'ip', requests: 100, per: '1h', algorithm: 'fixed-window' },
        { name: 'per-user', by: 'user', requests: 3, per: '1h', algorithm: 'fixed-window' },
      ],
    })
    // One user from four addresses, all in one batch: the user's rule is shared, whatever the first check's identity.
    const allowed = await Promise.all(
      ['10.9.0.1', '10.9.0.2', '10.9.0.3', '10.9.0.4'].map(
        async (ip) => (await limiter.check({ ...request(ip), user: 'carol' } as never)).allowed,
      ),
    )
    expect(allowed).toEqual([true, true, true, false])
    client.disconnect()
  })

  it('a request id sent twice, in one batch or in two, is charged once', async () => {
    const client = redisClient(redis.port)
    await ready(client)
    const store = redisStore({ client, prefix: 'twice:', localDenyCache: false })
    const check = (group: string) => ({
      key: `r:${group}`,
      group,
      rule: 'r',
      algorithm: 'fixed-window' as const,
      limit: 100,
      burst: 100,
      windowMs: 60_000,
      cost: 5,
    })
    // Two identities in one batch, so the script reads records of several hash tags at once.
    const first = await Promise.all([
      store.consume([check('a')], { requestId: 'same' }),
      store.consume([check('a')], { requestId: 'same' }),
      store.consume([check('b')], { requestId: 'other' }),
    ])
    expect(first.map((result) => result.allowed)).toEqual([true, true, true])
    const again = await store.consume([check('a')], { requestId: 'same' })
    expect(again.allowed).toBe(true)
    expect(again.results[0].window).toBe(first[0].results[0].window)
    const peek = await store.consume([{ ...check('a'), cost: 0 }], { requestId: 'peek-a' })
    expect(peek.results[0].remaining).toBe(95)
    const peekB = await store.consume([{ ...check('b'), cost: 0 }], { requestId: 'peek-b' })
    expect(peekB.results[0].remaining).toBe(95)
    // Control: a new id is charged.
    await store.consume([check('a')], { requestId: 'new' })
    const after = await store.consume([{ ...check('a'), cost: 0 }], { requestId: 'peek-a2' })
    expect(after.results[0].remaining).toBe(90)
    client.disconnect()
  })

  it('after a full run, every key of ours has a TTL', async () => {
    // PTTL is -1 for a key without a TTL; -2 for a key that expired between the listing and the PTTL, which had one.
    const expectExpiring = (ttl: number, key: string) =>
      expect(ttl === -2 || ttl > 0, `${key}: PTTL ${ttl}`).toBe(true)
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await admin.scan(cursor, 'COUNT', 1000)
      cursor = next
      keys.push(...batch.filter((key) => !key.startsWith('naive')))
    } while (cursor !== '0')
    expect(keys.length).toBeGreaterThan(0)
    for (const key of keys) expectExpiring(await admin.pttl(key), key)
    for (const node of cluster.nodes) {
      const nodeClient = new Redis({ port: node.port, host: '127.0.0.1' })
      const nodeKeys = await nodeClient.keys('*')
      for (const key of nodeKeys) expectExpiring(await nodeClient.pttl(key), key)
      nodeClient.disconnect()
    }
  })
})
