import { createLimiter, type Limiter, type LimitRequest, memoryStore, type Store } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisProcess, ready, redisClient, startRedis } from './support/redis-servers.js'

/**
 * peek after a mixed sequence of JSON, streamed and aborted requests equals the sum charged, as the store
 * counts it, and changes nothing: charging goes through commit (JSON and streamed usage) and release (an upstream
 * error without usage), and an abort commits what was streamed.
 */
let server: RedisProcess
let client: Redis
beforeAll(async () => {
  server = await startRedis()
  client = redisClient(server.port)
  await ready(client)
}, 30_000)
afterAll(async () => {
  client?.disconnect()
  await server?.stop()
})

const chat = (user: string, maxTokens: number): LimitRequest => ({
  method: 'POST',
  path: '/v1/chat/completions',
  headers: {},
  ip: '198.51.100.20',
  user,
  body: { model: 'gpt-4o-mini', max_tokens: maxTokens, messages: [{ role: 'user', content: 'Say hello.' }] },
})

const stores: [string, () => Store][] = [
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ client })],
]

describe.each(stores)('peek on %s', (name, makeStore) => {
  it('equals the sum charged after JSON, streamed, aborted and failed calls, and never changes it', async () => {
    const limiter: Limiter = createLimiter({
      store: makeStore(),
      rules: [
        { name: 'tokens-day', by: 'user', tokens: 1_000_000, per: 'day' },
        { name: 'spend-month', by: 'user', costUsd: 100, per: 'month' },
        { name: 'calls-day', by: 'user', requests: 1000, per: 'day' },
      ],
    })
    const user = `peek-${name}`
    let tokens = 0
    let micro = 0
    const price = (input: number, output: number) =>
      limiter.estimator.cost('gpt-4o-mini', { inputTokens: input, outputTokens: output })
    const steps: ('json' | 'stream' | 'abort' | 'fail')[] = [
      'json',
      'stream',
      'abort',
      'fail',
      'json',
      'stream',
      'abort',
    ]
    for (const [i, step] of steps.entries()) {
      const decision = await limiter.check(chat(user, 200 + i))
      expect(decision.allowed).toBe(true)
      const input = decision.estimate.inputTokens
      if (step === 'fail') {
        await decision.release()
        continue
      }
      // JSON and streamed calls report the provider's usage; an abort, what was streamed before it.
      const output = step === 'json' ? 40 + i : step === 'stream' ? 120 + i : 7 + i
      await decision.commit({ inputTokens: input, outputTokens: output })
      tokens += input + output
      micro += price(input, output)
    }
    const first = await limiter.peek({ user })
    const second = await limiter.peek({ user })
    const byName = Object.fromEntries(first.map((rule) => [rule.name, rule]))
    expect(byName['tokens-day'].used).toBe(tokens)
    expect(Math.round(byName['spend-month'].used * 1e6)).toBe(micro)
    expect(byName['calls-day'].used).toBe(steps.length)
    expect(second.map((rule) => [rule.used, rule.remaining, rule.resetAt])).toEqual(
      first.map((rule) => [rule.used, rule.remaining, rule.resetAt]),
    )
    // The store's own counters agree: admission sees exactly the remaining budget peek reports.
    const probe = await limiter.check(chat(user, 1))
    const state = probe.rules.find((rule) => rule.name === 'tokens-day')
    expect(state?.remaining).toBe(1_000_000 - tokens - probe.estimate.inputTokens - 1)
  })
})
