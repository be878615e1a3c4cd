import { createLimiter } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import { Redis } from 'ioredis'

// The Redis store on whichever runtime runs this file: 10 requests against a limit of 5, then the
// same through a stream's token reconciliation. Prints one JSON line; test/runtimes-redis.test.ts reads it.
declare const process: { argv: string[]; exit(code: number): never }

const port = Number(process.argv[2])
const client = new Redis({ port, host: '127.0.0.1', enableOfflineQueue: false, lazyConnect: false })
await new Promise((resolve) => client.once('ready', resolve))
const limiter = createLimiter({
  store: redisStore({ client, timeoutMs: 2000 }),
  rules: [
    { name: 'five', by: 'ip', requests: 5, per: '1m', algorithm: 'fixed-window' },
    { name: 'tokens', by: 'ip', tokens: 1000, per: '1h' },
  ],
})
const host = Math.floor(Math.random() * 250) + 1
const ip = `192.0.2.${host}`
const allowed: boolean[] = []
for (let i = 0; i < 10; i++) {
  const decision = await limiter.check({ method: 'GET', path: '/', headers: {}, ip })
  allowed.push(decision.allowed)
  if (!decision.allowed && decision.reason !== 'requests') console.error(decision.status, decision.message)
}
const concurrent = await Promise.all(
  Array.from({ length: 10 }, () =>
    limiter.check({ method: 'GET', path: '/', headers: {}, ip: `198.51.100.${host}` }),
  ),
)
console.log(
  JSON.stringify({
    sequential: allowed.filter(Boolean).length,
    concurrent: concurrent.filter((decision) => decision.allowed).length,
  }),
)
await limiter.close()
client.disconnect()
process.exit(0)
