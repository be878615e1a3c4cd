// One process of the exactness harness: `node --import tsx --conditions=source exactness-worker.ts <port> <mode> <requests> <concurrency> <skewMs> <prefix>`.
import { createLimiter, type Store } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import { Redis } from 'ioredis'

const [port, mode, requestsText, concurrencyText, skewText, prefix] = process.argv.slice(2)
const skew = Number(skewText)
// The app clock is deliberately wrong; decisions must not depend on it.
const realNow = Date.now
Date.now = () => realNow() + skew

const client = new Redis({
  port: Number(port),
  host: '127.0.0.1',
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
})
await new Promise((resolve) => client.once('ready', resolve))

/** The naive control: read, compare, write — races between processes over-admit. */
const naive: Store = {
  name: 'naive',
  async consume(checks) {
    const key = `${prefix}naive:${checks[0].key}`
    const used = Number((await client.get(key)) ?? 0)
    const allowed = used + checks[0].cost <= checks[0].limit
    if (allowed) await client.set(key, String(used + checks[0].cost), 'PX', 60_000)
    return {
      allowed,
      now: Date.now(),
      results: [{ allowed, remaining: 0, resetAt: 0, retryAfterMs: allowed ? 0 : 1000, window: 0 }],
    }
  },
  async adjust() {},
}

const tokens = mode === 'tokens'
const limiter = createLimiter({
  store: mode === 'naive' ? naive : redisStore({ client, timeoutMs: 5000, prefix }),
  rules: [
    tokens
      ? { name: 'tpm', by: 'global', tokens: 1000 * 100, per: '1d', algorithm: 'sliding-window' }
      : { name: 'rpm', by: 'global', requests: 1000, per: '1d', algorithm: 'sliding-window' },
  ],
})
// Each token request is estimated at exactly 100 tokens: 1,000 fit in the rule.
const probe = { model: 'gpt-4o', messages: [{ role: 'user', content: 'count' }], max_tokens: 1 }
const parsed = (await import('@llm-limit/core')).parseLlmRequest(probe, '/v1/chat/completions')
const input = parsed && !('invalid' in parsed) ? limiter.estimator.estimate(parsed).inputTokens : 0
const body = { ...probe, max_tokens: 100 - input }
const request = {
  method: 'POST',
  path: '/v1/chat/completions',
  headers: {},
  ip: '10.9.8.7',
  body: tokens ? body : undefined,
}

let admitted = 0
let next = 0
const total = Number(requestsText)
await Promise.all(
  Array.from({ length: Number(concurrencyText) }, async () => {
    while (next < total) {
      next++
      const decision = await limiter.check(request)
      if (decision.allowed) admitted++
    }
  }),
)
process.stdout.write(JSON.stringify({ admitted }))
client.disconnect()
