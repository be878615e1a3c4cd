// A 3-rule decision whose limits come from a cached limit function, against the same decision with constant
// limits, same run, interleaved rounds (median): memory store, then Redis (64 decisions in flight on a
// redis-server this bench starts and stops). Run: pnpm --filter @llm-limit/bench exec tsx operator-limits.ts
import { createLimiter, type Limiter, memoryStore, type Rule } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import { Redis } from 'ioredis'
import { startRedis } from '../test/support/redis-servers.js'
import { median } from './median.js'

const USERS = 1000
const requests = Array.from({ length: USERS }, (_, i) => ({
  method: 'GET',
  path: '/v1/models',
  headers: {},
  ip: `10.1.${i >> 8}.${i & 255}`,
  user: `customer-${i}`,
}))
const tiers = new Map(requests.map((request, i) => [request.user, i % 2 === 0 ? 1e9 : 2e9]))

function rules(resolved: boolean): Rule[] {
  const limit = (value: number) =>
    resolved ? (identity: { user?: string }) => tiers.get(identity.user ?? '') ?? value : value
  return [
    { name: 'burst', by: 'user', requests: limit(1e9), per: '1s' },
    { name: 'minute', by: 'user', requests: limit(1e9), per: '1m', algorithm: 'sliding-window' },
    { name: 'hour', by: 'user', requests: limit(1e9), per: '1h', algorithm: 'fixed-window' },
  ]
}

async function measure(limiter: Limiter, ms: number, inFlight: number): Promise<number> {
  const started = performance.now()
  let done = 0
  while (performance.now() - started < ms) {
    if (inFlight === 1) {
      for (let i = 0; i < 1000; i++) await limiter.check(requests[(done + i) % USERS])
      done += 1000
    } else {
      const batch = []
      for (let i = 0; i < inFlight; i++) batch.push(limiter.check(requests[(done + i) % USERS]))
      await Promise.all(batch)
      done += inFlight
    }
  }
  return (done * 1000) / (performance.now() - started)
}

async function compare(
  label: string,
  constant: Limiter,
  resolved: Limiter,
  inFlight: number,
  roundMs: number,
) {
  await measure(constant, 300, inFlight)
  await measure(resolved, 300, inFlight)
  const a: number[] = []
  const b: number[] = []
  for (let round = 0; round < 7; round++) {
    a.push(await measure(constant, roundMs, inFlight))
    b.push(await measure(resolved, roundMs, inFlight))
  }
  const ca = median(a)
  const cb = median(b)
  console.log(
    `${label}: constant ${Math.round(ca).toLocaleString()} ops/s, cached limit function ${Math.round(cb).toLocaleString()} ops/s, cost ratio ${(ca / cb).toFixed(3)}x`,
  )
}

await compare(
  'memory',
  createLimiter({ store: memoryStore(), rules: rules(false) }),
  createLimiter({ store: memoryStore(), rules: rules(true) }),
  1,
  400,
)
const server = await startRedis()
const clients = [0, 1].map(
  () => new Redis({ port: server.port, host: '127.0.0.1', enableOfflineQueue: true }),
)
try {
  await compare(
    'redis',
    createLimiter({ store: redisStore({ client: clients[0], prefix: 'a:' }), rules: rules(false) }),
    createLimiter({ store: redisStore({ client: clients[1], prefix: 'b:' }), rules: rules(true) }),
    64,
    800,
  )
} finally {
  for (const client of clients) client.disconnect()
  await server.stop()
}
