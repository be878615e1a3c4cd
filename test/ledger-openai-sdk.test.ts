import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { type CommitEvent, type LimiterOptions, memoryStore } from '@llm-limit/core'
import { llmLimit as expressLimit } from '@llm-limit/express'
import { llmLimit as honoLimit } from '@llm-limit/hono'
import express from 'express'
import { Hono } from 'hono'
import OpenAI from 'openai'
import { describe, expect, it } from 'vitest'
import { chargedLedger, expressApp, FakeProvider, honoApp, type Script } from './ledger-apps.js'

const FROZEN = Date.UTC(2026, 5, 10, 12, 30)
const SCRIPT: Script = {
  api: 'chat',
  stream: true,
  deltas: 7,
  deltaKind: 'content',
  end: 'completed',
  behaviour: 'normal',
  cutAt: 0,
}

describe.each([
  ['express', expressApp],
  ['hono on @hono/node-server', honoApp],
] as const)('the real openai SDK streaming through %s', (_name, appOf) => {
  async function setUp() {
    const ledger = chargedLedger()
    const options: LimiterOptions = {
      store: memoryStore({ now: () => FROZEN }),
      rules: [{ name: 'tokens', by: 'global', tokens: 1e6, per: '1h', algorithm: 'fixed-window' }],
      includeStreamUsage: true,
      validations: false,
      events: { onCommit: ledger.onCommit },
    }
    let provider: FakeProvider | undefined
    const app = await appOf(options, (limiter) => {
      provider = new FakeProvider(() => limiter)
      return provider
    })
    const openai = new OpenAI({
      apiKey: 'test',
      baseURL: `http://127.0.0.1:${app.port}/v1`,
      defaultHeaders: { 'x-script': JSON.stringify(SCRIPT) },
      maxRetries: 0,
    })
    return { ledger, app, openai, provider: () => provider! }
  }

  it('the common loop over choices[0].delta runs, and the usage llm-limit asked for is still reconciled', async () => {
    const { ledger, app, openai, provider } = await setUp()
    try {
      const stream = await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Say the word seven times.' }],
        max_tokens: 50,
        stream: true,
        user: 'sdk-1',
      })
      let text = ''
      let chunks = 0
      for await (const c of stream) {
        // Throws a TypeError on a usage-only chunk (choices: []), which this client never asked for.
        text += c.choices[0].delta.content ?? ''
        chunks++
      }
      expect(text).toBe(' the'.repeat(7))
      expect(chunks).toBe(7)
      await settlement(() => ledger.byId.has('sdk-1'))
      const bill = provider().bills.get('sdk-1')!
      expect(ledger.byId.get('sdk-1')?.usage).toMatchObject({ inputTokens: bill.input, outputTokens: 7 })
    } finally {
      await app.close()
    }
  })

  it('a client that asks for include_usage itself still gets its usage chunk', async () => {
    const { ledger, app, openai, provider } = await setUp()
    try {
      const stream = await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Say the word seven times.' }],
        max_tokens: 50,
        stream: true,
        stream_options: { include_usage: true },
        user: 'sdk-2',
      })
      let usage: OpenAI.CompletionUsage | null | undefined
      for await (const c of stream) if (c.choices.length === 0) usage = c.usage
      const bill = provider().bills.get('sdk-2')!
      expect(usage).toMatchObject({ prompt_tokens: bill.input, completion_tokens: 7 })
      await settlement(() => ledger.byId.has('sdk-2'))
      expect(ledger.byId.get('sdk-2')?.usage).toMatchObject({ inputTokens: bill.input, outputTokens: 7 })
    } finally {
      await app.close()
    }
  })
})

/** Waits for a settlement, which happens just after the response ends. */
async function settlement(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5))
  expect(done()).toBe(true)
}

/** The upstream's whole stream as one string, as a buffering proxy sends it (with a Content-Length). */
function bufferedStream(body: Record<string, unknown>): string {
  const chunk = (delta: object) =>
    `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta }] })}\n\n`
  const asked = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true
  const usage = asked
    ? `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 11, completion_tokens: 2 } })}\n\n`
    : ''
  return `${chunk({ content: 'Hi' })}${chunk({ content: '!' })}${usage}data: [DONE]\n\n`
}

describe('a whole stream sent at once, with its Content-Length', () => {
  async function loop(port: number) {
    const openai = new OpenAI({ apiKey: 'test', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 })
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    })
    let text = ''
    for await (const c of stream) text += c.choices[0].delta.content ?? ''
    return text
  }
  const options = (commits: CommitEvent[]): LimiterOptions => ({
    store: memoryStore({ now: () => FROZEN }),
    rules: [{ name: 'tokens', by: 'global', tokens: 1e6, per: '1h', algorithm: 'fixed-window' }],
    validations: false,
    events: { onCommit: (event) => void commits.push(event) },
  })

  it('express res.send: the usage chunk is taken out and the length declared again', async () => {
    const commits: CommitEvent[] = []
    const app = express()
    app.use(express.json())
    app.use(expressLimit(options(commits)))
    app.post('/v1/chat/completions', (req, res) => {
      res.type('text/event-stream').send(bufferedStream(req.body))
    })
    const server = http.createServer(app)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      expect(await loop((server.address() as AddressInfo).port)).toBe('Hi!')
      await settlement(() => commits.length > 0)
      expect(commits[0].usage).toMatchObject({ inputTokens: 11, outputTokens: 2 })
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })

  it('hono: a string body on @hono/node-server loses only the usage chunk', async () => {
    const commits: CommitEvent[] = []
    const app = new Hono()
    app.use('*', honoLimit(options(commits)))
    app.post('/v1/chat/completions', async (c) => {
      const body = (await c.req.json()) as Record<string, unknown>
      return new Response(bufferedStream(body), { headers: { 'content-type': 'text/event-stream' } })
    })
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as http.Server
    await new Promise<void>((resolve) => server.once('listening', resolve))
    try {
      expect(await loop((server.address() as AddressInfo).port)).toBe('Hi!')
      await settlement(() => commits.length > 0)
      expect(commits[0].usage).toMatchObject({ inputTokens: 11, outputTokens: 2 })
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })
})
