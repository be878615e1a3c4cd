import { describe, expect, it } from 'vitest'
import { createLimiter } from '../engine/limiter.js'
import { memoryStore } from '../store/memory-store.js'
import { apiForPath, parseLlmRequest } from './parse-request.js'

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello!' }] }

describe('which routes are LLM calls', () => {
  it('knows /chat/completions by its path alone', () => {
    expect(apiForPath('/v1/chat/completions')).toBe('openai-chat')
    expect(apiForPath('/openai/deployments/gpt4/chat/completions/')).toBe('openai-chat')
    expect(parseLlmRequest({}, '/v1/chat/completions')).toEqual({ invalid: expect.stringMatching(/model/) })
  })

  it.each([
    ['/api/conversations/7/messages', { text: 'hi' }],
    ['/cars/messages', { model: 'Civic', text: 'a red one' }],
    ['/surveys/3/responses', { answer: 2 }],
    ['/tasks/1/completions', { done: true }],
    ['/search/embeddings', { vector: [0.1, 0.2] }],
  ])('leaves an app route that only ends like an LLM one alone: %s', (path, body) => {
    expect(parseLlmRequest(body, path)).toBeUndefined()
  })

  it.each([
    ['/v1/messages', { model: 'claude-3-5-haiku-latest', messages: [], max_tokens: 5 }, 'anthropic-messages'],
    ['/v1/embeddings', { model: 'text-embedding-3-small', input: 'hi' }, 'openai-embeddings'],
    ['/v1/responses', { model: 'gpt-4o', input: 'hi' }, 'openai-responses'],
    ['/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'hi' }, 'openai-completions'],
  ])('takes %s for its API when the body carries the API fields', (path, body, api) => {
    expect(parseLlmRequest(body, path)).toMatchObject({ api, model: body.model })
  })

  it.each(['/v1/messages/count_tokens', '/v1/responses/input_tokens'])(
    'leaves %s alone: counting tokens is free, so it is no call to charge',
    (path) => {
      expect(parseLlmRequest({ ...chat, max_tokens: 5, input: 'hi' }, path)).toBeUndefined()
    },
  )

  it('holds a body with the API fields on a shared route to that API', () => {
    // Anthropic requires max_tokens, which an OpenAI-shaped chat body lacks.
    expect(parseLlmRequest(chat, '/v1/messages')).toEqual({ invalid: expect.stringMatching(/max_tokens/) })
  })

  it.each([
    ['JSON null', null],
    ['an array', [chat]],
    ['text', JSON.stringify(chat)],
    ['a number', 42],
    ['a boolean', true],
    ['raw bytes', Buffer.from(JSON.stringify(chat))],
  ])('refuses %s as a chat completions body, saying it must be a JSON object', (_what, body) => {
    expect(parseLlmRequest(body, '/v1/chat/completions')).toEqual({
      invalid: expect.stringMatching(/must be a JSON object/),
    })
    // Off LLM routes the same value is just a request.
    expect(parseLlmRequest(body, '/upload')).toBeUndefined()
  })
})

describe('bad fields', () => {
  it('are named in a short message, never quoted whole (a 1 MB max_tokens is not a 1 MB answer)', () => {
    const parsed = parseLlmRequest({ ...chat, max_tokens: 'x'.repeat(1_000_000) }, '/v1/chat/completions')
    expect(parsed).toEqual({ invalid: expect.stringMatching(/^`max_tokens` must be a whole number/) })
    expect((parsed as { invalid: string }).invalid.length).toBeLessThan(200)
  })
})

describe('LLM route recognition in the limiter', () => {
  const limiter = () =>
    createLimiter({
      store: memoryStore(),
      rules: [
        { name: 'rpm', by: 'ip', requests: 100, per: '1m' },
        { name: 'tpm', by: 'ip', tokens: 100_000, per: '1m' },
      ],
    })
  const send = (method: string, path: string, body: unknown) =>
    limiter().check({ method, path, headers: {}, ip: '203.0.113.5', body })

  it("admits an app's own POST /conversations/:id/messages as a plain request", async () => {
    const decision = await send('POST', '/conversations/7/messages', { text: 'hi' })
    expect(decision).toMatchObject({ allowed: true, status: 200 })
    expect(decision.estimate.model).toBeUndefined()
  })

  it('answers 400 for JSON null or an array sent to /v1/chat/completions', async () => {
    for (const body of [null, [chat]]) {
      const decision = await send('POST', '/v1/chat/completions', body)
      expect(decision).toMatchObject({ allowed: false, status: 400, reason: 'invalid_request' })
    }
  })

  it('never reads the body of a GET (listing stored completions) as a call', async () => {
    // Some body parsers leave `{}` on every request.
    expect(await send('GET', '/v1/chat/completions', {})).toMatchObject({ allowed: true, status: 200 })
    expect(await send('POST', '/v1/chat/completions', {})).toMatchObject({ allowed: false, status: 400 })
  })

  it('still estimates a real chat call on any path by its shape', async () => {
    const decision = await send('POST', '/llm', chat)
    expect(decision.estimate.model).toBe('gpt-4o-mini')
    expect(decision.estimate.inputTokens).toBeGreaterThan(0)
  })
})

describe('a model name that is not one', () => {
  it('refuses a 10 KB model name by its length, not as an empty one', () => {
    const result = parseLlmRequest({ ...chat, model: 'x'.repeat(10_240) }, '/v1/chat/completions')
    expect(result).toEqual({
      invalid: expect.stringMatching(/^`model` is 10240 characters long; model names are at most 256\./),
    })
    expect(parseLlmRequest({ ...chat, model: '' }, '/v1/chat/completions')).toEqual({
      invalid: expect.stringMatching(/non-empty string/),
    })
  })
})
