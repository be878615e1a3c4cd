import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatBody } from '../http/format-body.js'
import { memoryStore } from '../store/memory-store.js'
import type { LimitRequest, Rule } from '../types.js'
import { createLimiter } from './limiter.js'

const PROMPT = [{ role: 'user', content: 'Write a haiku about rate limits.' }]

function chat(fields: Record<string, unknown>, path = '/v1/chat/completions'): LimitRequest {
  return {
    method: 'POST',
    path,
    headers: {},
    ip: '203.0.113.7',
    body: { model: 'test-model', messages: PROMPT, ...fields },
  }
}

function limiter(rules: Rule[]) {
  const time = { now: Date.UTC(2026, 0, 15, 10, 0, 0, 123) }
  return createLimiter({
    store: memoryStore({ now: () => time.now }),
    prices: { 'test-model': { input: 2.5, output: 10 } },
    rules,
  })
}

describe('a denial by an output budget offers the max_tokens that fits', () => {
  it.each<[string, Rule]>([
    ['tokens', { name: 'budget', tokens: 1000, per: '1m' }],
    ['outputTokens', { name: 'budget', outputTokens: 1000, per: '1h' }],
    ['costUsd', { name: 'budget', costUsd: 0.01, per: '1h' }],
    ['costUsd per day', { name: 'budget', costUsd: 0.01, per: 'day' }],
  ])('%s: a retry with the offered value is admitted, one more is not', async (_name, rule) => {
    const limit = limiter([rule])
    expect((await limit.check(chat({ max_tokens: 300 }))).allowed).toBe(true)
    const denied = await limit.check(chat({ max_tokens: 5000 }))
    expect(denied.allowed).toBe(false)
    const fits = denied.affordableMaxTokens as number
    expect(fits).toBeGreaterThan(0)
    expect(denied.message).toContain(`A retry with max_tokens at most ${fits} fits now.`)
    expect((await limit.check(chat({ max_tokens: fits + 1 }))).allowed).toBe(false)
    expect((await limit.check(chat({ max_tokens: fits }))).allowed).toBe(true)
  })

  it('counts n choices and names the field the request used', async () => {
    const limit = limiter([{ name: 'out', outputTokens: 1000, per: '1m' }])
    const denied = await limit.check(chat({ max_completion_tokens: 600, n: 2 }))
    expect(denied.affordableMaxTokens).toBe(500)
    expect(denied.message).toContain('max_completion_tokens at most 500')
    const body = JSON.parse(formatBody(denied).body)
    expect(body.error).toMatchObject({ param: 'max_completion_tokens', affordable_max_tokens: 500 })
    expect((await limit.check(chat({ max_completion_tokens: 500, n: 2 }))).allowed).toBe(true)
  })

  it('says max_output_tokens for the Responses API', async () => {
    const limit = limiter([{ name: 'out', outputTokens: 100, per: '1m' }])
    const request = chat({ input: 'Hello', max_output_tokens: 400 }, '/v1/responses')
    const denied = await limit.check(request)
    expect(denied.affordableMaxTokens).toBe(100)
    expect(JSON.parse(formatBody(denied).body).error.param).toBe('max_output_tokens')
  })

  it('offers the smallest value over every output budget that denied', async () => {
    const limit = limiter([
      { name: 'tokens', tokens: 10_000, per: '1m' },
      { name: 'out', outputTokens: 700, per: '1m' },
      { name: 'spend', costUsd: 0.002, per: '1m' },
    ])
    const denied = await limit.check(chat({ max_tokens: 5000 }))
    const fits = denied.affordableMaxTokens as number
    expect(fits).toBeLessThan(700)
    expect((await limit.check(chat({ max_tokens: fits + 1 }))).allowed).toBe(false)
    expect((await limit.check(chat({ max_tokens: fits }))).allowed).toBe(true)
  })

  it('offers nothing, and says so, when not even max_tokens 1 fits', async () => {
    const limit = limiter([{ name: 'tokens', tokens: 60, per: '1m' }])
    expect((await limit.check(chat({ max_tokens: 45 }))).allowed).toBe(true)
    const denied = await limit.check(chat({ max_tokens: 10 }))
    expect(denied.allowed).toBe(false)
    expect(denied.affordableMaxTokens).toBeUndefined()
    expect(denied.message).toContain('Not even max_tokens 1 fits now.')
    const body = JSON.parse(formatBody(denied).body)
    expect(body.error.param).toBeNull()
    expect(body.error).not.toHaveProperty('affordable_max_tokens')
    expect((await limit.check(chat({ max_tokens: 1 }))).allowed).toBe(false)
  })

  it('offers nothing when a rule that does not count output denied too', async () => {
    const limit = limiter([
      { name: 'calls', requests: 1, per: '1m' },
      { name: 'out', outputTokens: 100, per: '1m' },
    ])
    expect((await limit.check(chat({ max_tokens: 50 }))).allowed).toBe(true)
    const denied = await limit.check(chat({ max_tokens: 5000 }))
    expect(denied.allowed).toBe(false)
    expect(denied.affordableMaxTokens).toBeUndefined()
    expect(denied.message).not.toContain('fits now')
  })

  it('puts the value in every error shape', async () => {
    const limit = limiter([{ name: 'out', outputTokens: 100, per: '1m' }])
    const denied = await limit.check(chat({ max_tokens: 400 }))
    expect(JSON.parse(formatBody(denied, 'anthropic').body).error.affordable_max_tokens).toBe(100)
    expect(JSON.parse(formatBody(denied, 'problem').body)).toMatchObject({
      param: 'max_tokens',
      affordableMaxTokens: 100,
    })
    expect(denied).toMatchObject({ affordableMaxTokens: 100 })
    expect(JSON.parse(JSON.stringify(denied)).affordableMaxTokens).toBe(100)
  })
})

describe('the offered max_tokens is exact', () => {
  const RULES: Rule[][] = [
    [{ name: 'tokens', tokens: 2000, per: '1m' }],
    [{ name: 'spend', costUsd: 0.02, per: '1m' }],
    [
      { name: 'tokens', tokens: 2000, per: '1m', algorithm: 'token-bucket', burst: 1500 },
      { name: 'spend', costUsd: 0.015, per: 'day' },
    ],
  ]

  it('after any history, the offer is admitted and one more is not; no offer means 1 does not fit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...RULES),
        fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 3 }),
        async (rules, history, n) => {
          const limit = limiter(rules)
          for (const maxTokens of history) await limit.check(chat({ max_tokens: maxTokens }))
          const denied = await limit.check(chat({ max_tokens: 1_000_000, n }))
          if (denied.allowed) return false
          const fits = denied.affordableMaxTokens
          if (fits === undefined) return !(await limit.check(chat({ max_tokens: 1, n }))).allowed
          if ((await limit.check(chat({ max_tokens: fits + 1, n }))).allowed) return false
          return (await limit.check(chat({ max_tokens: fits, n }))).allowed
        },
      ),
      { numRuns: 200 },
    )
  })
})
