import { createLimiter, type Decision } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ready, startCluster } from './support/redis-servers.js'

let cluster: Awaited<ReturnType<typeof startCluster>>
beforeAll(async () => {
  cluster = await startCluster()
})
const admins: Redis[] = []
afterAll(async () => {
  for (const admin of admins) admin.disconnect()
  await cluster?.stop()
})

const LIMITS = { ip: 8, user: 12, global: 300, par: 2 }
const IPS = 40
const USERS = 30

/** Every key of ours on every master, with its type. */
async function keysOf(prefix: string): Promise<{ node: Redis; key: string }[]> {
  const found: { node: Redis; key: string }[] = []
  for (const { port } of cluster.nodes) {
    const node = new Redis({ port, host: '127.0.0.1' })
    admins.push(node)
    for (const key of await node.keys(`${prefix}*`)) found.push({ node, key })
  }
  return found
}

/** A seeded generator, so a failing run can be repeated. */
function random(seed: number) {
  let state = seed >>> 0
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

interface Trace {
  ip: number
  user: number
  start: number
  /** When the decision's lease (if any) was certainly given back, or when it was denied. */
  end: number
  decision: Decision
}

describe('Redis Cluster: a decision across slots is all-or-nothing, exactly', () => {
  it('10,000 mixed decisions over ip, user and global rules in different slots plus a concurrent rule: exactly the limits, zero leases left, no caller with room refused', async () => {
    const prefix = `slots-${Date.now()}:`
    const client = cluster.client()
    await ready(client)
    const limiter = createLimiter({
      store: redisStore({ client, prefix, timeoutMs: 5000 }),
      onStoreError: 'fail-closed',
      rules: [
        { name: 'ip', by: 'ip', requests: LIMITS.ip, per: 'day' },
        { name: 'user', by: 'user', requests: LIMITS.user, per: 'day' },
        { name: 'global', by: 'global', requests: LIMITS.global, per: 'day' },
        { name: 'par', by: 'user', concurrent: LIMITS.par },
      ],
    })
    const next = random(19)
    const traces: Trace[] = []
    let sent = 0
    let clock = 0
    const tick = () => ++clock
    await Promise.all(
      Array.from({ length: 48 }, async () => {
        while (sent < 10_000) {
          sent++
          const ip = Math.floor(next() * IPS)
          const user = Math.floor(next() * USERS)
          const start = tick()
          const decision = await limiter.check({
            method: 'POST',
            path: '/',
            headers: {},
            ip: `10.0.${ip}.1`,
            user: `user-${user}`,
          } as never)
          const trace: Trace = { ip, user, start, end: tick(), decision }
          traces.push(trace)
          if (decision.allowed) {
            // Hold the lease across a few other decisions, then give it back.
            for (let i = Math.floor(next() * 4); i > 0; i--) await new Promise((r) => setImmediate(r))
            await decision.release()
            trace.end = tick()
          }
        }
      }),
    )
    expect(traces).toHaveLength(10_000)
    expect(traces.filter((t) => t.decision.status === 503)).toHaveLength(0)
    const admitted = traces.filter((t) => t.decision.allowed)
    const perIp = new Map<number, number>()
    const perUser = new Map<number, number>()
    for (const t of admitted) {
      perIp.set(t.ip, (perIp.get(t.ip) ?? 0) + 1)
      perUser.set(t.user, (perUser.get(t.user) ?? 0) + 1)
    }
    // Exactly the limit of the binding rule, and no other rule over its limit.
    expect(admitted).toHaveLength(LIMITS.global)
    expect(Math.max(...perIp.values())).toBeLessThanOrEqual(LIMITS.ip)
    expect(Math.max(...perUser.values())).toBeLessThanOrEqual(LIMITS.user)

    // What Redis holds equals what was admitted, key by key: every undone slot gave back exactly what it took.
    await new Promise((resolve) => setTimeout(resolve, 200))
    const keys = await keysOf(prefix)
    const counts = async (rule: string) => {
      const values: number[] = []
      for (const { node, key } of keys)
        if (key.endsWith(`}:${rule}`)) values.push(Number(await node.hget(key, 'c')))
      return values.filter((v) => v > 0).sort((a, b) => a - b)
    }
    const sorted = (map: Map<number, number>) => [...map.values()].sort((a, b) => a - b)
    expect(await counts('ip')).toEqual(sorted(perIp))
    expect(await counts('user')).toEqual(sorted(perUser))
    expect(await counts('global')).toEqual([LIMITS.global])
    // No caller with room refused: a denial names a rule that was truly full. Daily windows only fill up here,
    // so a window rule was full at the denial only when it is full at the end.
    const unjustified = traces
      .filter((t) => !t.decision.allowed)
      .filter((t) => {
        const rule = t.decision.rule
        if (rule === 'ip') return perIp.get(t.ip) !== LIMITS.ip
        if (rule === 'user') return perUser.get(t.user) !== LIMITS.user
        if (rule === 'global') return admitted.length !== LIMITS.global
        // Concurrency: at least `par` other decisions of the user may have held a lease meanwhile.
        const others = traces.filter(
          (o) => o !== t && o.user === t.user && o.start < t.end && o.end > t.start && o.decision.allowed,
        )
        return others.length < LIMITS.par
      })
    expect(unjustified.map((t) => `${t.decision.rule}: ${t.decision.message}`)).toEqual([])

    // Zero leases left, and no pending marker.
    let leases = 0
    let markers = 0
    for (const { node, key } of keys) {
      if (key.endsWith('}:par')) leases += await node.zcard(key)
      if (key.endsWith(':pend')) markers += await node.zcard(key)
    }
    expect(leases).toBe(0)
    expect(markers).toBe(0)
  }, 180_000)
})
