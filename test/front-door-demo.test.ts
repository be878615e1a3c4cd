import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../examples/express-openai-proxy/src/app.js'

/**
 * The demo in forward mode, with the real OpenAI and Anthropic SDKs in front and a fake upstream
 * behind that refuses each route's first call with a 429: the SDK receives the upstream's
 * Retry-After and request id, backs off as told, and no llm-limit header contradicts the upstream.
 */

interface Call {
  path: string
  at: number
}

const calls: Call[] = []
let refuseNext = new Set<string>()

function startUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    let raw = ''
    req.on('data', (chunk) => {
      raw += chunk
    })
    req.on('end', () => {
      const path = req.url ?? ''
      calls.push({ path, at: performance.now() })
      if (refuseNext.has(path)) {
        refuseNext.delete(path)
        const anthropic = path === '/v1/messages'
        res.writeHead(429, {
          'content-type': 'application/json',
          'retry-after': '1',
          'x-request-id': 'req_upstream_1',
          'request-id': 'req_upstream_1',
          ...(anthropic
            ? { 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-limit': '50' }
            : { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-limit-requests': '60' }),
        })
        res.end(
          JSON.stringify(
            anthropic
              ? { type: 'error', error: { type: 'rate_limit_error', message: 'upstream says slow down' } }
              : {
                  error: {
                    message: 'upstream says slow down',
                    type: 'requests',
                    param: null,
                    code: 'rate_limit_exceeded',
                  },
                },
          ),
        )
        return
      }
      const body = JSON.parse(raw) as { model: string }
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req_upstream_2' })
      res.end(
        JSON.stringify(
          path === '/v1/messages'
            ? {
                id: 'msg_1',
                type: 'message',
                role: 'assistant',
                model: body.model,
                content: [{ type: 'text', text: 'Hello after backing off!' }],
                stop_reason: 'end_turn',
                stop_sequence: null,
                usage: { input_tokens: 12, output_tokens: 5 },
              }
            : {
                id: 'chatcmpl-1',
                object: 'chat.completion',
                created: 1,
                model: body.model,
                choices: [
                  {
                    index: 0,
                    message: { role: 'assistant', content: 'Hello after backing off!' },
                    finish_reason: 'stop',
                  },
                ],
                usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
              },
        ),
      )
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

const port = (server: Server) => (server.address() as AddressInfo).port

/** The proxy's own rate-limit headers, which must not appear beside an upstream's refusal. */
const OURS = [
  'ratelimit',
  'ratelimit-policy',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
]

describe('the demo forwards upstream refusals as the SDKs expect', () => {
  let upstream: Server
  let proxy: Server
  let base: string
  beforeAll(async () => {
    upstream = await startUpstream()
    const upstreamBase = `http://127.0.0.1:${port(upstream)}`
    const { app } = createApp({
      url: `${upstreamBase}/v1`,
      apiKey: 'sk-upstream',
      anthropicUrl: upstreamBase,
      anthropicKey: 'sk-ant-upstream',
    })
    proxy = await new Promise<Server>((resolve) => {
      const server = app.listen(0, '127.0.0.1', () => resolve(server))
    })
    base = `http://127.0.0.1:${port(proxy)}`
  })
  afterAll(async () => {
    await new Promise((resolve) => proxy?.close(resolve))
    await new Promise((resolve) => upstream?.close(resolve))
  })

  it("an upstream 429 reaches the client with the upstream's headers and none of the proxy's", async () => {
    refuseNext = new Set(['/v1/chat/completions'])
    const response = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Hi' }],
        max_tokens: 5,
      }),
    })
    expect(response.status).toBe(429)
    expect(response.headers.get('retry-after')).toBe('1')
    expect(response.headers.get('x-request-id')).toBe('req_upstream_1')
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('0')
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('60')
    for (const name of OURS) expect(response.headers.get(name), name).toBeNull()
    expect(await response.json()).toMatchObject({ error: { message: 'upstream says slow down' } })
  })

  it('the OpenAI SDK backs off as the upstream said and then succeeds', async () => {
    refuseNext = new Set(['/v1/chat/completions'])
    calls.length = 0
    const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-client', maxRetries: 2 })
    const { data, response } = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5 })
      .withResponse()
    expect(data.choices[0].message.content).toBe('Hello after backing off!')
    expect(response.headers.get('x-request-id')).toBe('req_upstream_2')
    expect(calls.map((call) => call.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions'])
    // Retry-After: 1 — the SDK waited about a second, not its own shorter default.
    expect(calls[1].at - calls[0].at).toBeGreaterThanOrEqual(900)
  })

  it('the Anthropic SDK does the same on /v1/messages', async () => {
    refuseNext = new Set(['/v1/messages'])
    calls.length = 0
    const anthropic = new Anthropic({ baseURL: base, apiKey: 'sk-ant-client', maxRetries: 2 })
    const message = await anthropic.messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 20,
      messages: [{ role: 'user', content: 'Hi' }],
    })
    expect(message.content[0]).toMatchObject({ type: 'text', text: 'Hello after backing off!' })
    expect(calls.map((call) => call.path)).toEqual(['/v1/messages', '/v1/messages'])
    expect(calls[1].at - calls[0].at).toBeGreaterThanOrEqual(900)
  })

  it('/v1/limits answers without spending the caller’s limits', async () => {
    const { app } = createApp() // offline, a fresh limiter: ip-burst allows 5 requests per 10 s
    const server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening))
    })
    const fresh = `http://127.0.0.1:${port(server)}`
    const chat = () =>
      fetch(`${fresh}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'Hi' }],
          max_tokens: 5,
        }),
      })
    try {
      const before = await chat()
      expect(before.headers.get('x-ratelimit-remaining-requests')).toBe('4')
      await before.arrayBuffer()
      for (let i = 0; i < 10; i++) {
        const limits = await fetch(`${fresh}/v1/limits`)
        expect(limits.status).toBe(200)
        expect(((await limits.json()) as { rules: unknown[] }).rules.length).toBeGreaterThan(0)
      }
      // Offline, /v1/messages answers in Anthropic's shape, counted against the same limits.
      const message = await fetch(`${fresh}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'claude-3-5-haiku-latest',
          max_tokens: 8,
          messages: [{ role: 'user', content: 'Hi' }],
        }),
      })
      expect(message.status).toBe(200)
      expect(message.headers.get('x-ratelimit-remaining-requests')).toBe('3')
      expect(await message.json()).toMatchObject({ type: 'message', usage: { output_tokens: 8 } })
      const after = await chat()
      expect(after.status).toBe(200)
      // Two more requests spent (chat and message), not twelve.
      expect(Number(after.headers.get('x-ratelimit-remaining-requests'))).toBeGreaterThanOrEqual(2)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
