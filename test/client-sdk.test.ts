import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Anthropic from '@anthropic-ai/sdk'
import { backoffFetch } from '@llm-limit/client'
import OpenAI from 'openai'
import { afterEach, describe, expect, it } from 'vitest'

type Answer = { status: number; headers: Record<string, string>; body: unknown }

async function upstream(answers: Answer[]) {
  const seen: number[] = []
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      seen.push(Date.now())
      const answer = answers[Math.min(seen.length - 1, answers.length - 1)]
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers })
      res.end(JSON.stringify(answer.body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hi!' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
}
const limited = {
  error: { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' },
}

let close: (() => Promise<void>) | undefined
afterEach(async () => {
  await close?.()
  close = undefined
})

describe('backoffFetch with the real SDKs', () => {
  it('OpenAI: a 429 with Retry-After: 2 succeeds after 2 s, with exactly two upstream requests', async () => {
    const server = await upstream([
      { status: 429, headers: { 'retry-after': '2' }, body: limited },
      { status: 200, headers: {}, body: completion },
    ])
    close = server.close
    const openai = new OpenAI({
      apiKey: 'test',
      baseURL: `${server.url}/v1`,
      fetch: backoffFetch(),
      maxRetries: 0,
    })
    const started = Date.now()
    const result = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
    })
    const elapsed = Date.now() - started
    expect(result.choices[0].message.content).toBe('Hi!')
    expect(server.seen).toHaveLength(2)
    expect(elapsed).toBeGreaterThanOrEqual(1800)
    expect(elapsed).toBeLessThanOrEqual(2200 + 500)
    expect(server.seen[1] - server.seen[0]).toBeGreaterThanOrEqual(1800)
  })

  it('OpenAI: x-should-retry: false is not retried', async () => {
    const server = await upstream([
      {
        status: 429,
        headers: { 'retry-after': '2', 'x-should-retry': 'false' },
        body: { error: { ...limited.error, code: 'insufficient_quota' } },
      },
    ])
    close = server.close
    const openai = new OpenAI({
      apiKey: 'test',
      baseURL: `${server.url}/v1`,
      fetch: backoffFetch(),
      maxRetries: 0,
    })
    await expect(
      openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }),
    ).rejects.toBeInstanceOf(OpenAI.RateLimitError)
    expect(server.seen).toHaveLength(1)
  })

  it('Anthropic: a 429 with retry-after is retried after the delay', async () => {
    const server = await upstream([
      {
        status: 429,
        headers: { 'retry-after': '1' },
        body: { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } },
      },
      {
        status: 200,
        headers: {},
        body: {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model: 'claude-haiku-4-5',
          content: [{ type: 'text', text: 'Hi!' }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: { input_tokens: 5, output_tokens: 2 },
        },
      },
    ])
    close = server.close
    const anthropic = new Anthropic({
      apiKey: 'test',
      baseURL: server.url,
      fetch: backoffFetch(),
      maxRetries: 0,
    })
    const started = Date.now()
    const message = await anthropic.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'Hi' }],
    })
    expect(message.content[0]).toMatchObject({ type: 'text', text: 'Hi!' })
    expect(server.seen).toHaveLength(2)
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
  })
})
