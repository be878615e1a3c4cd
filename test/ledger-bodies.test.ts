import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { serve } from '@hono/node-server'
import {
  type CommitEvent,
  createEstimator,
  type Decision,
  type LimiterOptions,
  memoryStore,
  resetWarnings,
} from '@llm-limit/core'
import { llmLimit as expressLimit } from '@llm-limit/express'
import { llmLimit as honoLimit } from '@llm-limit/hono'
import { llmLimit as koaLimit } from '@llm-limit/koa'
import express from 'express'
import { Hono } from 'hono'
import Koa from 'koa'
import { afterEach, describe, expect, it, vi } from 'vitest'

const CHAT = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Count my tokens, whatever my content type says.' }],
  max_tokens: 20,
})
const MAX_BODY = 64 * 1024

type Server = { port: number; close: () => Promise<void> }
type Started = Server & { decisions: Decision[] }

function options(
  decisions: Decision[],
  maxBodyBytes = MAX_BODY,
  onCommit?: (event: CommitEvent) => void,
): LimiterOptions {
  return {
    store: memoryStore(),
    rules: [
      { name: 'tokens', by: 'global', tokens: 1e9, per: '1h', algorithm: 'fixed-window' },
      { name: 'usd', by: 'global', costUsd: 1000, per: '1h', algorithm: 'fixed-window' },
    ],
    maxBodyBytes,
    validations: false,
    events: { onDecision: (decision) => void decisions.push(decision), onCommit },
  }
}

async function listen(server: http.Server): Promise<Server> {
  if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** What the apps answer: an upstream's JSON, with the usage and the model that served it. */
const ANSWER = {
  model: 'gpt-4o-2024-08-06',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' } }],
  usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 },
}

const APPS: [string, (maxBodyBytes?: number, onCommit?: (event: CommitEvent) => void) => Promise<Started>][] =
  [
    [
      'express',
      async (maxBodyBytes, onCommit) => {
        const decisions: Decision[] = []
        const app = express()
        app.use(expressLimit(options(decisions, maxBodyBytes, onCommit)))
        app.post(/.*/, (_req, res) => {
          res.json(ANSWER)
        })
        return { decisions, ...(await listen(http.createServer(app))) }
      },
    ],
    [
      'koa',
      async (maxBodyBytes, onCommit) => {
        const decisions: Decision[] = []
        const app = new Koa()
        app.use(koaLimit(options(decisions, maxBodyBytes, onCommit)))
        app.use((ctx) => {
          ctx.body = ANSWER
        })
        return { decisions, ...(await listen(http.createServer(app.callback()))) }
      },
    ],
    [
      'hono on @hono/node-server',
      async (maxBodyBytes, onCommit) => {
        const decisions: Decision[] = []
        const app = new Hono()
        app.use('*', honoLimit(options(decisions, maxBodyBytes, onCommit)))
        app.post('*', (c) => c.json(ANSWER))
        const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as http.Server
        await new Promise<void>((resolve) => server.once('listening', resolve))
        return { decisions, ...(await listen(server)) }
      },
    ],
  ]

function post(
  port: number,
  path: string,
  body: string | Buffer,
  contentType?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {}
    if (contentType !== undefined) headers['content-type'] = contentType
    const request = http.request({ host: '127.0.0.1', port, method: 'POST', path, headers }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        text += chunk
      })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }))
    })
    request.on('error', reject)
    request.end(body)
  })
}

/** Uploads chunk after chunk, with no Content-Length, until the server answers; resolves its status or the error. */
function upload(port: number, total: number): Promise<number | string> {
  return new Promise((resolve) => {
    const request = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    })
    let answered = false
    request.on('response', (response) => {
      answered = true
      response.resume()
      resolve(response.statusCode ?? 0)
      request.end()
    })
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
    const chunk = Buffer.alloc(16 * 1024, 'a')
    let sent = 0
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length
        if (!request.write(chunk)) return void request.once('drain', pump)
      }
      if (!answered) request.end()
    }
    request.write('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"')
    pump()
  })
}

let started: Started | undefined
afterEach(async () => {
  await started?.close()
  started = undefined
})

describe.each(APPS)('bodies on LLM paths through %s', (_name, start) => {
  it.each([
    ['text/plain', 'text/plain'],
    ['no content type', undefined],
    ['form-encoded', 'application/x-www-form-urlencoded'],
  ])('a chat body sent as %s is read and reserved, never admitted unread', async (_label, type) => {
    started = await start()
    const response = await post(started.port, '/v1/chat/completions', CHAT, type)
    expect(response.status).toBe(200)
    const decision = started.decisions.at(-1)!
    expect(decision.llm?.model).toBe('gpt-4o-mini')
    expect(decision.estimate.inputTokens).toBeGreaterThan(5)
    expect(decision.estimate.outputTokens).toBe(20)
  })

  it('text that is not JSON on an LLM-only path is a 400 that says so; on a shared path it goes to the handler', async () => {
    started = await start()
    const refused = await post(started.port, '/v1/chat/completions', 'model=gpt-4o&prompt=hi', 'text/plain')
    expect(refused.status).toBe(400)
    expect(refused.body).toMatch(/JSON/)
    const shared = await post(
      started.port,
      '/conversations/7/messages',
      'text=hi',
      'application/x-www-form-urlencoded',
    )
    expect(shared.status).toBe(200)
    expect(started.decisions.at(-1)?.llm).toBeUndefined()
  })

  it('a 4 MB body of 2,000,000 nested arrays is refused without holding the event loop', async () => {
    started = await start(8 * 1024 * 1024)
    const nested = Buffer.from(`${'['.repeat(2_000_000)}${']'.repeat(2_000_000)}`)
    const delay = monitorEventLoopDelay({ resolution: 5 })
    delay.enable()
    const response = await post(started.port, '/v1/chat/completions', nested, 'application/json')
    delay.disable()
    expect(response.status).toBe(400)
    expect(response.body).toMatch(/nested too deeply/)
    // Negative control, timed in the same run: JSON.parse of that body holds the loop 0.4 s on an idle
    // machine and seconds on a loaded one; the refusal must hold it far less, whatever the load.
    const parsing = performance.now()
    try {
      JSON.parse(nested.toString())
    } catch {}
    const unguarded = performance.now() - parsing
    expect(delay.max / 1e6).toBeLessThan(Math.max(100, unguarded / 4))
  }, 30_000)

  it('oversized uploads without Content-Length get their 413, never a connection reset', async () => {
    started = await start()
    const outcomes: (number | string)[] = []
    for (let i = 0; i < 20; i++) outcomes.push(await upload(started.port, 32 * MAX_BODY))
    expect(outcomes).toEqual(Array(20).fill(413))
  }, 60_000)
})

describe('a body parser that left raw bytes or text (Express)', () => {
  it.each([
    ['express.text', express.text({ type: '*/*' })],
    ['express.raw', express.raw({ type: '*/*' })],
  ])(
    '%s: the chat body is still parsed for the decision, and the handler keeps what its parser gave',
    async (_name, parser) => {
      const decisions: Decision[] = []
      const app = express()
      app.use(parser)
      app.use(expressLimit(options(decisions)))
      let kept: unknown
      app.post('/v1/chat/completions', (req, res) => {
        kept = req.body
        res.json({ ok: true })
      })
      started = { decisions, ...(await listen(http.createServer(app))) }
      const response = await post(started.port, '/v1/chat/completions', CHAT, 'text/plain')
      expect(response.status).toBe(200)
      expect(decisions.at(-1)?.llm?.model).toBe('gpt-4o-mini')
      expect(typeof kept === 'string' || Buffer.isBuffer(kept)).toBe(true)
    },
  )
})

describe('a call llm-limit could not estimate', () => {
  it.each(APPS)(
    '%s: the usage its response reports is charged, priced by the model the response names',
    async (_name, start) => {
      const commits: CommitEvent[] = []
      started = await start(MAX_BODY, (event) => void commits.push(event))
      // The app's own request shape, which no LLM API uses: nothing to estimate before the call.
      const response = await post(
        started.port,
        '/api/ask',
        JSON.stringify({ question: 'hi' }),
        'application/json',
      )
      expect(response.status).toBe(200)
      expect(started.decisions.at(-1)?.llm).toBeUndefined()
      for (let i = 0; i < 100 && commits.length === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 5))
      expect(commits[0].usage).toEqual({ inputTokens: 1000, outputTokens: 500, model: 'gpt-4o-2024-08-06' })
      expect(commits[0].costMicroUsd).toBe(
        createEstimator().cost('gpt-4o-2024-08-06', { inputTokens: 1000, outputTokens: 500 }),
      )
    },
  )
})

describe('WARN_CREATED_IN_HANDLER', () => {
  it.each([
    ['koa', 'koa'],
    ['hono', 'hono'],
  ])(
    '%s: a limiter built at start-up while earlier requests are still open is not reported',
    async (framework) => {
      resetWarnings()
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
      let release: () => void = () => {}
      const held = new Promise<void>((resolve) => {
        release = resolve
      })
      let entered: () => void = () => {}
      const inside = new Promise<void>((resolve) => {
        entered = resolve
      })
      let server: Server
      if (framework === 'koa') {
        const app = new Koa()
        app.use(koaLimit({ validations: { WARN_TRUST_PROXY: false } }))
        app.use(async (ctx) => {
          entered()
          await held
          ctx.body = 'ok'
        })
        server = await listen(http.createServer(app.callback()))
      } else {
        const app = new Hono()
        app.use('*', honoLimit({ validations: { WARN_TRUST_PROXY: false } }))
        app.get('*', async (c) => {
          entered()
          await held
          return c.text('ok')
        })
        const raw = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as http.Server
        await new Promise<void>((resolve) => raw.once('listening', resolve))
        server = await listen(raw)
      }
      try {
        const open = fetch(`http://127.0.0.1:${server.port}/`)
        await inside
        // Start-up of a second app, while the first request waits on I/O.
        if (framework === 'koa') koaLimit()
        else honoLimit()
        release()
        expect((await open).status).toBe(200)
        expect(warn.mock.calls.flat().join('\n')).not.toMatch(/WARN_CREATED_IN_HANDLER/)
      } finally {
        warn.mockRestore()
        await server.close()
        resetWarnings()
      }
    },
  )

  it('koa: a limiter built inside a handler is still reported', async () => {
    resetWarnings()
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const app = new Koa()
    app.use(koaLimit({ validations: { WARN_TRUST_PROXY: false } }))
    app.use((ctx) => {
      koaLimit()
      ctx.body = 'ok'
    })
    const server = await listen(http.createServer(app.callback()))
    try {
      expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(200)
      expect(warn.mock.calls.flat().join('\n')).toMatch(/WARN_CREATED_IN_HANDLER/)
    } finally {
      warn.mockRestore()
      await server.close()
      resetWarnings()
    }
  })
})
