import { memoryStore, type Rule } from '@llm-limit/core'
import { llmLimit } from '@llm-limit/hono'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'

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
