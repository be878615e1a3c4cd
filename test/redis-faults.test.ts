import { createLimiter, type Decision } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js'
import { type RedisProcess, ready, startRedis } from './support/redis-servers.js'

let redis: RedisProcess
let proxy: FaultProxy
let admin: Redis
beforeAll(async () => {
  // Every write is on disk before its reply goes out, so a killed server restarts with all it ever answered.
  redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always'])
  proxy = await startFaultProxy(redis.port)
  admin = new Redis({ port: redis.port, host: '127.0.0.1', retryStrategy: () => 50 })
  admin.on('error', () => {})
})
afterAll(async () => {
  admin?.disconnect()
  await proxy?.close()
  await redis?.stop()
})

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'count to three' }], max_tokens: 40 }

describe('Redis faults between ioredis and Redis: nothing leaked, nothing charged twice, no refused request charged', () => {
  it('300 ms latency, a black hole ending in a reset, Redis killed and restarted: the store equals the ledger', async () => {
    const client = new Redis({
      port: proxy.port,
      host: '127.0.0.1',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 50,
    })
    client.on('error', () => {})
    await ready(client)
    const store = redisStore({ client, prefix: 'faults:', timeoutMs: 150 })
    const limiter = createLimiter({
      store,
      onStoreError: 'fail-closed',
      rules: [
        { name: 'req', by: 'user', requests: 1_000_000_000, per: 'day' },
        { name: 'tok', by: 'user', tokens: 1_000_000_000_000, per: 'day' },
        { name: 'par', by: 'user', concurrent: 100_000 },
      ],
    })
    const check = (worker: number) =>
      limiter.check({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: {},
        ip: `10.1.1.${worker}`,
        user: 'ledger',
        body,
      } as never)
    // Warm up (the tokenizer loads on first use), then release: its request (if admitted) and no tokens in the ledger.
    const warm = await check(9)
    await warm.release()
    const ledger = { admitted: warm.allowed ? 1 : 0, refused: 0, tokens: 0, other: 0 }
    let running = true
    let seed = 7
    const next = () => {
      seed = (seed * 1664525 + 1013904223) >>> 0
      return seed / 2 ** 32
    }
    const workers = Array.from({ length: 8 }, async (_, w) => {
      while (running) {
        const decision = await check(w)
        if (decision.status === 503) ledger.refused++
        else if (decision.allowed) {
          ledger.admitted++
          // Half the calls finish with usage, half are released (an upstream error): settled while faults happen.
          await pause(next() * 20)
          if (next() < 0.5) {
            const inputTokens = 1 + Math.floor(next() * 100)
            const outputTokens = Math.floor(next() * 100)
            await decision.commit({ inputTokens, outputTokens })
            ledger.tokens += inputTokens + outputTokens
          } else await decision.release()
        } else ledger.other++
        await pause(3)
      }
    })
    /** Lets the stream run `ms`, and then until Redis has admitted `served` decisions in this phase (5 s at most). */
    const phase = async (ms: number, served = 0) => {
      const before = { ...ledger }
      await pause(ms)
      const started = performance.now()
      while (ledger.admitted - before.admitted < served && performance.now() - started < 5000) await pause(20)
      return { admitted: ledger.admitted - before.admitted, refused: ledger.refused - before.refused }
    }
    /** Decisions admitted before a fault and settled while it lasts: each settlement must be kept and retried. */
    const admitBefore = async () => {
      const held = []
      for (let i = 0; i < 6; i++) {
        const decision = await check(9)
        if (decision.allowed) {
          ledger.admitted++
          held.push(decision)
        } else if (decision.status === 503) ledger.refused++
      }
      expect(held.length).toBeGreaterThan(0)
      return held
    }
    const settleDuring = (held: Decision[]) =>
      Promise.all(
        held.map(async (decision, i) => {
          if (i % 2 === 0) return decision.release()
          await decision.commit({ inputTokens: 10 + i, outputTokens: 5 })
          ledger.tokens += 15 + i
        }),
      )
    const phases: Record<string, { admitted: number; refused: number }> = {}
    phases.normal = await phase(300, 10)
    proxy.delayMs = 300
    phases.latency = await phase(1000)
    proxy.delayMs = 0
    phases.recovered = await phase(400, 10)
    const beforeHole = await admitBefore()
    proxy.mode = 'silent'
    const settledInHole = settleDuring(beforeHole)
    phases.blackHole = await phase(600)
    proxy.mode = 'pass'
    proxy.reset()
    phases.afterReset = await phase(500, 10)
    const beforeKill = await admitBefore()
    await redis.kill()
    const settledWhileDown = settleDuring(beforeKill)
    phases.killed = await phase(400)
    await redis.restart()
    phases.restarted = await phase(800, 10)
    running = false
    await Promise.all([...workers, settledInHole, settledWhileDown])
    // The faults happened, and Redis served before and after each.
    expect(phases.latency.refused).toBeGreaterThan(0)
    expect(phases.blackHole.refused).toBeGreaterThan(0)
    expect(phases.killed.refused).toBeGreaterThan(0)
    for (const name of ['normal', 'recovered', 'afterReset', 'restarted'])
      expect(phases[name].admitted, name).toBeGreaterThan(0)
    expect(ledger.other).toBe(0)

    // The fault has cleared: within one retry interval (1 s at most) everything owed has landed.
    const cleared = performance.now()
    while (store.pendingSettlements() > 0 && performance.now() - cleared < 5000) await pause(20)
    expect(store.pendingSettlements()).toBe(0)
    expect(performance.now() - cleared).toBeLessThan(1000 + 500)
    // Commands still travelling through the proxy's delay land before we look.
    await pause(400)

    const keys = await admin.keys('faults:*')
    const read = async (rule: string) => {
      const key = keys.find((k) => k.endsWith(`}:${rule}`))
      if (!key) throw new Error(`no key for rule ${rule}`)
      return key
    }
    // Requests: every admitted decision once; no refused (503) one, however late its command arrived or was resent.
    expect(Number(await admin.hget(await read('req'), 'c'))).toBe(ledger.admitted)
    // Tokens: reservations, commits and releases each applied exactly once: the store equals the ledger.
    expect(Number(await admin.hget(await read('tok'), 'c'))).toBe(ledger.tokens)
    // No lease held (a set with no lease left is gone).
    let leases = 0
    for (const key of keys.filter((k) => k.endsWith('}:par'))) leases += await admin.zcard(key)
    expect(leases).toBe(0)
    client.disconnect()
  }, 60_000)
})
