import { parseRateLimitHeaders } from '@llm-limit/client'
import { createLimiter, type Decision, formatHeaders, type IetfDraft, memoryStore } from '@llm-limit/core'
import { describe, expect, it } from 'vitest'

/** A denial with a real wait, produced by the real engine. */
async function denial(): Promise<Decision> {
  const limiter = createLimiter({
    store: memoryStore(),
    rules: [
      { name: 'user-rpm', requests: 2, per: '1m' },
      { name: 'user-tpm', tokens: 100_000, per: '1m' },
    ],
  })
  const request = { method: 'GET', path: '/', headers: {}, ip: '192.0.2.1' }
  await limiter.check(request)
  await limiter.check(request)
  const decision = await limiter.check(request)
  expect(decision.allowed).toBe(false)
  return decision
}

const sets: { name: string; options: Parameters<typeof formatHeaders>[1]; drop?: string[] }[] = [
  { name: 'everything (defaults)', options: {} },
  {
    name: 'OpenAI headers alone',
    options: { ietf: false, legacy: false },
    drop: ['retry-after', 'retry-after-ms'],
  },
  ...(['draft-6', 'draft-7', 'draft-8', 'draft-10', 'draft-11'] as IetfDraft[]).map((draft) => ({
    name: `IETF ${draft} alone`,
    options: { openai: false, legacy: false, ietf: draft },
    drop: ['retry-after', 'retry-after-ms'],
  })),
  { name: 'legacy alone', options: { openai: false, ietf: false }, drop: ['retry-after', 'retry-after-ms'] },
  {
    name: 'Retry-After alone',
    options: { openai: false, ietf: false, legacy: false },
    drop: ['retry-after-ms'],
  },
]

describe('round trip: every header set the server emits parses back to the same retry time', () => {
  it.each(sets)('$name', async ({ options, drop }) => {
    const decision = await denial()
    const headers = formatHeaders(decision, options)
    for (const name of drop ?? []) delete headers[name]
    const info = parseRateLimitHeaders(headers)
    // Without an explicit delay, the reset of the exhausted quota is when to come back.
    const exhausted = [info.requests, info.tokens].find((dimension) => dimension.remaining === 0)
    const parsed = info.retryAfterMs ?? exhausted?.resetMs
    expect(parsed).toBeDefined()
    expect(Math.abs((parsed as number) - decision.retryAfterMs)).toBeLessThanOrEqual(1000)
  })

  it('carries x-should-retry: false through', async () => {
    const limiter = createLimiter({ rules: [{ name: 'day', costUsd: 0.000001, per: 'day' }] })
    const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }
    const decision = await limiter.check({
      method: 'POST',
      path: '/v1/chat/completions',
      headers: {},
      ip: '192.0.2.2',
      body,
    })
    expect(parseRateLimitHeaders(formatHeaders(decision)).shouldRetry).toBe(false)
  })
})
