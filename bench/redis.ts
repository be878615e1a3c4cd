// Redis decisions at 64 in flight, side by side on one redis-server this bench starts and stops:
// a bare single-key EVALSHA, llm-limit's redisStore (3 rules, one script call), rate-limiter-flexible
// (3 RateLimiterRedis consumes), and an over-limit key hammered through the local deny cache.
import { createLimiter } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import { Redis } from 'ioredis'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import { startRedis } from '../test/support/redis-servers.js'
import { median } from './median.js'

/** One measured contender: decisions per second, the median of interleaved rounds. */
export interface RedisBenchResult {
  name: string
  decisionsPerSecond: number
}

const IN_FLIGHT = 64
const NEVER = 1e9
const request = { method: 'POST', path: '/v1/chat/completions', headers: {}, ip: '10.1.2.3' }

type Contender = { name: string; op: (i: number) => Promise<unknown> }

/** The bare baseline: one key, INCR + PEXPIRE in Lua, evaluated with EVALSHA by ioredis. */
const BARE_LUA = `local v = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return v`

type Bare = { benchIncr(key: string, ttlMs: number): Promise<number> }

async function contenders(port: number): Promise<{ all: Contender[]; clients: Redis[] }> {
  // Each contender has its own connection, as it would in its own process; the options the docs recommend.
  const connect = () =>
    new Redis({
      port,
      host: '127.0.0.1',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: true,
    })
  const clients = [connect(), connect(), connect(), connect()]
  await Promise.all(clients.map((client) => client.connect()))
  const [bareClient, oursClient, rlfClient, denyClient] = clients

  bareClient.defineCommand('benchIncr', { numberOfKeys: 1, lua: BARE_LUA })
  const bare = bareClient as unknown as Bare

  const rules = [
    { name: 'burst', by: 'ip', requests: NEVER, per: '1s' },
    { name: 'minute', by: 'ip', requests: NEVER, per: '1m', algorithm: 'sliding-window' },
    { name: 'hour', by: 'ip', requests: NEVER, per: '1h', algorithm: 'fixed-window' },
  ] as const
  const ours = createLimiter({
    store: redisStore({ client: oursClient, prefix: 'bench:' }),
    rules: [...rules],
  })

  const rlf = [
    new RateLimiterRedis({ storeClient: rlfClient, keyPrefix: 'rlf-burst', points: NEVER, duration: 1 }),
    new RateLimiterRedis({ storeClient: rlfClient, keyPrefix: 'rlf-minute', points: NEVER, duration: 60 }),
    new RateLimiterRedis({ storeClient: rlfClient, keyPrefix: 'rlf-hour', points: NEVER, duration: 3600 }),
  ]

  const hammered = createLimiter({
    store: redisStore({ client: denyClient, prefix: 'bench-deny:' }),
    rules: [{ name: 'tiny', by: 'ip', requests: 1, per: '1h', algorithm: 'fixed-window' }],
  })
  await hammered.check(request)
  const first = await hammered.check(request)
  if (first.allowed) throw new Error('The over-limit contender was not denied; the bench setup is broken.')

  return {
    clients,
    all: [
      { name: 'bare EVALSHA (INCR + PEXPIRE, 1 key)', op: () => bare.benchIncr('bench-bare', 60_000) },
      { name: 'llm-limit redisStore check (3 rules)', op: () => ours.check(request) },
      {
        name: 'rate-limiter-flexible RateLimiterRedis (3 consumes)',
        // As a user stacks three limits: all three at once (RateLimiterUnion does the same).
        op: () => Promise.all(rlf.map((limiter) => limiter.consume(request.ip))),
      },
      {
        name: 'llm-limit over-limit key, denied (deny cache)',
        op: async () => {
          const decision = await hammered.check(request)
          if (decision.allowed) throw new Error('The hammered key was admitted; it must stay over its limit.')
        },
      },
    ],
  }
}

/** Runs `op` from IN_FLIGHT concurrent loops for `ms`; returns completed operations per second. */
async function measure(op: Contender['op'], ms: number): Promise<number> {
  const started = performance.now()
  let done = 0
  const loop = async () => {
    while (performance.now() - started < ms) {
      await op(done)
      done++
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, loop))
  return (done * 1000) / (performance.now() - started)
}

/** Measures every contender in interleaved rounds so machine noise hits all of them alike. */
export async function runRedisBench(rounds = 7, roundMs = 1000): Promise<RedisBenchResult[]> {
  const server = await startRedis()
  const { all, clients } = await contenders(server.port)
  try {
    for (const contender of all) await measure(contender.op, 300)
    const samples = all.map(() => [] as number[])
    for (let round = 0; round < rounds; round++) {
      for (let c = 0; c < all.length; c++) samples[c].push(await measure(all[c].op, roundMs))
    }
    return all.map((contender, c) => ({ name: contender.name, decisionsPerSecond: median(samples[c]) }))
  } finally {
    for (const client of clients) client.disconnect()
    await server.stop()
  }
}

/** Prints the Redis section of `pnpm bench` with its ratios and goals. */
export async function printRedisBench(): Promise<void> {
  console.log(`\n## Redis decisions (decisions/s, ${IN_FLIGHT} in flight, median of interleaved rounds)\n`)
  const [bare, ours, rlf, denied] = await runRedisBench()
  for (const result of [bare, ours, rlf, denied])
    console.log(
      `${result.name.padEnd(52)} ${Math.round(result.decisionsPerSecond).toLocaleString('en-US').padStart(12)}`,
    )
  const ratio = (a: RedisBenchResult, b: RedisBenchResult) =>
    `${(a.decisionsPerSecond / b.decisionsPerSecond).toFixed(2)}×`
  console.log(`\nllm-limit (3 rules) / bare EVALSHA:            ${ratio(ours, bare)} (goal ≥ 0.90×)`)
  console.log(`llm-limit (3 rules) / rate-limiter-flexible:    ${ratio(ours, rlf)} (goal ≥ 2.50×)`)
  console.log(`over-limit denials / bare EVALSHA:              ${ratio(denied, bare)} (goal ≥ 10.00×)`)
}
