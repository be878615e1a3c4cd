import { createLimiter } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ready, startCluster } from './support/redis-servers.js'

let cluster: Awaited<ReturnType<typeof startCluster>>
const admins: Redis[] = []
beforeAll(async () => {
  cluster = await startCluster()
})
afterAll(async () => {
  for (const admin of admins) admin.disconnect()
  await cluster?.stop()
})

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('Redis Cluster: a decision that fails in one slot is charged in none', () => {
  it('one master paused past timeoutMs: every 503 leaves no charge in the slots that did answer', async () => {
    const prefix = `cluster-faults-${Date.now()}:`
    const client = cluster.client()
    client.on('error', () => {})
    await ready(client)
    const store = redisStore({ client, prefix, timeoutMs: 200 })
    const limiter = createLimiter({
      store,
      onStoreError: 'fail-closed',
      rules: [
        { name: 'ip', by: 'ip', requests: 1_000_000, per: 'day' },
        { name: 'user', by: 'user', requests: 1_000_000, per: 'day' },
        { name: 'global', by: 'global', requests: 1_000_000, per: 'day' },
        { name: 'par', by: 'user', concurrent: 1_000_000 },
      ],
    })
    let admitted = 0
    let refused = 0
    const run = async (count: number) => {
      const decisions = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          limiter.check({
            method: 'POST',
            path: '/',
            headers: {},
            ip: `10.2.${i % 50}.1`,
            user: `user-${i % 37}`,
          } as never),
        ),
      )
      for (const decision of decisions) {
        if (decision.allowed) {
          admitted++
          await decision.release()
        } else if (decision.status === 503) refused++
      }
    }
    // Before any fault: served (the first calls load the scripts; a busy machine may need a few tries).
    for (let tries = 0; admitted === 0 && tries < 50; tries++) await run(20)
    await run(100)
    expect(admitted).toBeGreaterThan(0)
    // Each master in turn stops answering for 700 ms: decisions with a slot there fail, their other slots answered.
    for (const node of cluster.nodes) {
      const admin = new Redis({ port: node.port, host: '127.0.0.1' })
      admins.push(admin)
      await admin.call('CLIENT', 'PAUSE', '700', 'ALL')
      await run(100)
      await pause(800)
      // The guard skips a failed store for a probe interval; let it take Redis back.
      await pause(300)
      await run(50)
    }
    expect(refused).toBeGreaterThan(0)
    while (store.pendingSettlements() > 0) await pause(20)
    await pause(200)
    // What Redis holds is exactly what was admitted: no refused decision left a charge or a lease in any slot.
    const totals: Record<string, number> = { ip: 0, user: 0, global: 0 }
    let leases = 0
    for (const { port } of cluster.nodes) {
      const node = new Redis({ port, host: '127.0.0.1' })
      admins.push(node)
      for (const key of await node.keys(`${prefix}*`)) {
        const rule = key.slice(key.lastIndexOf(':') + 1)
        if (rule in totals) totals[rule] += Number(await node.hget(key, 'c'))
        if (rule === 'par') leases += await node.zcard(key)
      }
    }
    expect(totals).toEqual({ ip: admitted, user: admitted, global: admitted })
    expect(leases).toBe(0)
  }, 120_000)
})
