// A 3-rule decision whose limits come from a cached limit function, against the same decision with constant
// limits, same run: memory store, then Redis (64 decisions in flight on a redis-server this bench starts and
// stops). Each round measures every contender twice, in order and then in reverse order, and the cost ratio is
// taken within each round, so a busy machine slows both sides of a ratio alike.
// Every round builds its limiters afresh (and warms them up unmeasured), so no contender keeps an advantage
// from where its state happened to land in memory. The memory store also runs a floor: constant limits plus one
// Date.now() per decision (through `skip`), the clock read a TTL check needs.
// Run: cd bench && npx tsx operator-limits.ts [memory|redis]
import { createLimiter, type Limiter, memoryStore, type Rule } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import { Redis } from 'ioredis'
import { startRedis } from '../test/support/redis-servers.js'
import { median } from './median.js'

const USERS = 1000
const ROUNDS = 11
const requests = Array.from({ length: USERS }, (_, i) => ({
  method: 'GET',
  path: '/v1/models',
  headers: {},
  ip: `10.1.${i >> 8}.${i & 255}`,
  user: `customer-${i}`,
}))
// Two tiers, as a customers table would give: each customer's limit differs from the constant one or not.
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

type Contender = [name: string, make: () => Limiter]

/** Runs the contenders in interleaved rounds; prints each one's median rate and its cost against the first. */
async function compare(label: string, contenders: Contender[], inFlight: number, roundMs: number) {
  // Once unmeasured, so every code path is compiled before the first round.
  for (const [, make] of contenders) await measure(make(), 300, inFlight)
  const rates: number[][] = contenders.map(() => [])
  for (let round = 0; round < ROUNDS; round++) {
    const limiters = contenders.map(([, make]) => make())
    // Every customer's keys (and cached limits) exist before the measured part.
    for (const limiter of limiters) await measure(limiter, 50, inFlight)
    // Forward then backward, each contender's two runs averaged: a drift within the round weighs on all alike.
    const sums = contenders.map(() => 0)
    const order = contenders.map((_, i) => i)
    for (const i of [...order, ...order.reverse()]) sums[i] += await measure(limiters[i], roundMs, inFlight)
    for (let i = 0; i < sums.length; i++) rates[i].push(sums[i] / 2)
  }
  console.log(`${label} (${ROUNDS} rounds, 2 x ${roundMs} ms per contender each, ${inFlight} in flight):`)
  contenders.forEach(([name], i) => {
    const line = `  ${name.padEnd(40)} ${Math.round(median(rates[i])).toLocaleString('en-US').padStart(10)} decisions/s`
    if (i === 0) {
      console.log(line)
      return
    }
    // Cost against the first contender, within each round.
    const ratios = rates[i].map((rate, round) => rates[0][round] / rate).sort((a, b) => a - b)
    const quartile = (q: number) => ratios[Math.round(q * (ratios.length - 1))].toFixed(3)
    console.log(
      `${line}   cost ${median(ratios).toFixed(3)}x (middle half ${quartile(0.25)}-${quartile(0.75)}x)`,
    )
  })
}

const only = process.argv[2]
if (only !== 'redis') {
  await compare(
    'memory',
    [
      ['constant limits', () => createLimiter({ store: memoryStore(), rules: rules(false) })],
      ['cached limit function', () => createLimiter({ store: memoryStore(), rules: rules(true) })],
      [
        'floor: constant + one Date.now()',
        () => createLimiter({ store: memoryStore(), rules: rules(false), skip: () => Date.now() < 0 }),
      ],
    ],
    1,
    200,
  )
}
if (only !== 'memory') {
  const server = await startRedis()
  const clients = [0, 1].map(
    () => new Redis({ port: server.port, host: '127.0.0.1', enableOfflineQueue: true }),
  )
  try {
    await compare(
      'redis',
      [
        [
          'constant limits',
          () =>
            createLimiter({ store: redisStore({ client: clients[0], prefix: 'a:' }), rules: rules(false) }),
        ],
        [
          'cached limit function',
          () =>
            createLimiter({ store: redisStore({ client: clients[1], prefix: 'b:' }), rules: rules(true) }),
        ],
      ],
      64,
      400,
    )
  } finally {
    for (const client of clients) client.disconnect()
    await server.stop()
  }
}
