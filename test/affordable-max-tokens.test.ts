import { createLimiter, type LimitRequest, memoryStore, type Rule } from '@llm-limit/core'
import { llmLimit } from '@llm-limit/hono'
import { redisStore } from '@llm-limit/redis'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisProcess, ready, redisClient, startRedis } from './support/redis-servers.js'

/** A Hono app behind llmLimit whose handler answers with OpenAI's shape and the usage it was asked for. */
const RULES: Rule[] = [
  { name: 'tpm', by: 'ip', tokens: 2000, per: '1m' },
  { name: 'spend', by: 'ip', costUsd: 0.05, per: 'day' },
]

function app(errorFormat: 'openai' | 'anthropic' = 'openai', rules = RULES) {
  const time = { now: Date.UTC(2026, 0, 15, 10, 0, 0, 123) }
  const server = new Hono()
  server.use(
    llmLimit({
      store: memoryStore({ now: () => time.now }),
      getIp: () => '203.0.113.7',
      prices: { 'test-model': { input: 2.5, output: 10 } },
      rules,
      errorFormat,
    }),
  )
  server.post('/v1/chat/completions', async (c) => {
    const body = (await c.req.json()) as { max_tokens: number }
    const usage = {
      prompt_tokens: 20,
      completion_tokens: body.max_tokens,
      total_tokens: 20 + body.max_tokens,
    }
    return c.json({ id: 'x', object: 'chat.completion', choices: [], usage })
  })
  return server
}

const call = (server: Hono, maxTokens: number) =>
  server.request('/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Write a haiku.' }],
      max_tokens: maxTokens,
    }),
  })

describe('a denial by an output budget through the Hono adapter', () => {
  it('carries the affordable max_tokens, and a retry with it is admitted', async () => {
    const server = app()
    expect((await call(server, 900)).status).toBe(200)
    const denied = await call(server, 1500)
    expect(denied.status).toBe(429)
    const { error } = (await denied.json()) as {
      error: { message: string; param: string; affordable_max_tokens: number }
    }
    expect(error.param).toBe('max_tokens')
    const fits = error.affordable_max_tokens
    expect(fits).toBeGreaterThan(0)
    expect(error.message).toContain(`max_tokens at most ${fits} fits now`)
    expect((await call(server, fits + 1)).status).toBe(429)
    expect((await call(server, fits)).status).toBe(200)
  })

  it('converts what is left of a dollar budget into max_tokens at the output price', async () => {
    const server = app('openai', [{ name: 'spend', by: 'ip', costUsd: 0.02, per: 'day' }])
    expect((await call(server, 900)).status).toBe(200)
    const denied = await call(server, 1500)
    expect(denied.status).toBe(429)
    expect(denied.headers.get('x-should-retry')).toBe('false')
    const { error } = (await denied.json()) as { error: { code: string; affordable_max_tokens: number } }
    expect(error.code).toBe('insufficient_quota')
    const fits = error.affordable_max_tokens
    expect(fits).toBeGreaterThan(1000)
    expect((await call(server, fits + 1)).status).toBe(429)
    expect((await call(server, fits)).status).toBe(200)
  })

  it('offers no value once not even max_tokens 1 fits', async () => {
    const server = app('anthropic')
    expect((await call(server, 900)).status).toBe(200)
    const denied = await call(server, 4000)
    const fits = ((await denied.json()) as { error: { affordable_max_tokens: number } }).error
      .affordable_max_tokens
    expect((await call(server, fits)).status).toBe(200)
    const spent = await call(server, 50)
    expect(spent.status).toBe(429)
    const { error } = (await spent.json()) as { error: Record<string, unknown> }
    expect(error.message).toContain('Not even max_tokens 1 fits now.')
    expect(error).not.toHaveProperty('affordable_max_tokens')
  })
})

describe('the memory and Redis stores offer the same max_tokens', () => {
  let redis: RedisProcess | undefined
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  // A token rule that denies, then a dollar rule that denies two choices; both on their default algorithm.
  const scenarios: { name: string; ip: string; rules: Rule[]; maxTokens: number; n: number }[] = [
    {
      name: 'a token rule denies',
      ip: '203.0.113.9',
      rules: [
        { name: 'tph', by: 'ip', tokens: 3000, per: '1h' },
        { name: 'spend', by: 'ip', costUsd: 1, per: '1d' },
      ],
      maxTokens: 2000,
      n: 1,
    },
    {
      name: 'a dollar rule denies two choices',
      ip: '203.0.113.10',
      rules: [
        { name: 'tph', by: 'ip', tokens: 100_000, per: '1h' },
        { name: 'spend', by: 'ip', costUsd: 0.03, per: '1d' },
      ],
      maxTokens: 900,
      n: 2,
    },
  ]

  it.each(scenarios)('$name', async ({ ip, rules, maxTokens, n }) => {
    const client = redisClient((redis as RedisProcess).port)
    const offers: (number | undefined)[] = []
    try {
      await ready(client)
      for (const store of [memoryStore(), redisStore({ client })]) {
        const limiter = createLimiter({ store, prices: { 'test-model': { input: 2.5, output: 10 } }, rules })
        const request = (cap: number, choices = 1): LimitRequest => ({
          method: 'POST',
          path: '/v1/chat/completions',
          headers: {},
          ip,
          body: {
            model: 'test-model',
            messages: [{ role: 'user', content: 'Hi.' }],
            max_tokens: cap,
            n: choices,
          },
        })
        expect((await limiter.check(request(1200))).allowed).toBe(true)
        const denied = await limiter.check(request(maxTokens, n))
        expect(denied.allowed).toBe(false)
        const fits = denied.affordableMaxTokens as number
        offers.push(fits)
        expect((await limiter.check(request(fits + 1, n))).allowed).toBe(false)
        expect((await limiter.check(request(fits, n))).allowed).toBe(true)
      }
    } finally {
      client.disconnect()
    }
    expect(offers[0]).toBeGreaterThan(0)
    expect(offers[1]).toBe(offers[0])
  })
})
