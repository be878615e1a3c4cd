import { memoryStore } from '@llm-limit/core'
import express from 'express'
import request from 'supertest'
import { describe, expect, it, vi } from 'vitest'
import { llmLimit } from './llm-limit.js'

function app(options: Parameters<typeof llmLimit>[0], parse = true) {
  const server = express()
  if (parse) server.use(express.json())
  server.use(llmLimit(options))
  server.post('/v1/chat/completions', (req, res) => {
    res.json({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      model: req.body.model,
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    })
  })
  server.get('/decision', (req, res) => {
    res.json({ allowed: req.llmLimit?.allowed, rules: req.llmLimit?.rules.map((rule) => rule.name) })
  })
  return server
}

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 50 }

describe('llmLimit() for Express', () => {
  it('works with no options and sends all three header sets', async () => {
    const response = await request(app(undefined)).get('/decision')
    expect(response.status).toBe(200)
    expect(response.body.allowed).toBe(true)
    expect(response.headers['x-ratelimit-limit-requests']).toBeDefined()
    expect(response.headers['ratelimit-policy']).toContain('"ip-requests"')
    expect(response.headers['x-ratelimit-limit']).toBeDefined()
  })

  it('answers 429 with Retry-After and an OpenAI-shaped body', async () => {
    const server = app({ store: memoryStore(), rules: [{ name: 'tiny', requests: 1, per: '1m' }] })
    await request(server).get('/decision').expect(200)
    const response = await request(server).get('/decision')
    expect(response.status).toBe(429)
    expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    expect(Number(response.headers['retry-after-ms'])).toBeGreaterThan(0)
    expect(response.body).toEqual({
      error: {
        message: expect.stringContaining("'tiny'"),
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
    })
  })

  it('reads the JSON body itself when no parser ran, and leaves it parsed', async () => {
    const server = app({ rules: [{ name: 'tpm', tokens: 100_000, per: '1m' }] }, false)
    const response = await request(server).post('/v1/chat/completions').send(chat)
    expect(response.status).toBe(200)
    expect(response.body.model).toBe('gpt-4o-mini')
  })

  it('answers malformed JSON with a 400 that says so', async () => {
    const server = app({}, false)
    const response = await request(server)
      .post('/v1/chat/completions')
      .set('content-type', 'application/json')
      .send('{"model":')
    expect(response.status).toBe(400)
    expect(response.body.error.message).toMatch(/not valid JSON/)
  })

  it('never counts a request twice when mounted twice', async () => {
    const limit = llmLimit({ rules: [{ name: 'once', requests: 2, per: '1m' }] })
    const server = express()
    server.use(limit)
    server.get('/twice', limit, (_req, res) => {
      res.send('ok')
    })
    await request(server).get('/twice').expect(200)
    await request(server).get('/twice').expect(200)
    await request(server).get('/twice').expect(429)
  })

  it('applies route overrides instead of the global rules', async () => {
    const server = app({
      rules: [{ name: 'global', requests: 1, per: '1m' }],
      routes: { 'GET /decision': { rules: [{ name: 'decision-route', requests: 3, per: '1m' }] } },
    })
    for (let i = 0; i < 3; i++) {
      const response = await request(server).get('/decision').expect(200)
      expect(response.body.rules).toEqual(['decision-route'])
    }
    await request(server).get('/decision').expect(429)
  })

  it('skips requests the skip option names', async () => {
    const server = app({ rules: [{ requests: 1, per: '1m' }], skip: (req) => req.path === '/decision' })
    for (let i = 0; i < 3; i++) await request(server).get('/decision').expect(200)
  })

  it('exposes req.llmLimit in mounted sub-apps and routers, and lets handlers replace it', async () => {
    const server = express()
    server.use(llmLimit({ rules: [{ name: 'outer', requests: 5, per: '1m' }] }))
    const sub = express()
    sub.get('/read', (req, res) => {
      res.json({ rules: req.llmLimit?.rules.map((rule) => rule.name) })
    })
    const router = express.Router()
    router.get('/write', (req, res) => {
      const before = req.llmLimit?.allowed
      req.llmLimit = undefined
      res.json({ before, after: req.llmLimit ?? null })
    })
    server.use('/sub', sub)
    server.use('/router', router)
    expect((await request(server).get('/sub/read').expect(200)).body).toEqual({ rules: ['outer'] })
    expect((await request(server).get('/router/write').expect(200)).body).toEqual({
      before: true,
      after: null,
    })
  })

  it('counts a request once per limiter, but once for each of two different limiters', async () => {
    const first = llmLimit({ rules: [{ name: 'first', requests: 1, per: '1m' }], validations: false })
    const second = llmLimit({ rules: [{ name: 'second', requests: 2, per: '1m' }], validations: false })
    const server = express()
    server.get('/both', first, second, first, (req, res) => {
      res.json({ rules: req.llmLimit?.rules.map((rule) => rule.name) })
    })
    expect((await request(server).get('/both').expect(200)).body).toEqual({ rules: ['second'] })
    const denied = await request(server).get('/both').expect(429)
    expect(denied.body.error.message).toContain("'first'")
  })

  it('hands a throwing option (here skip) to the error handler instead of crashing', async () => {
    const server = express()
    server.use(
      llmLimit({
        skip: () => {
          throw new Error('skip exploded')
        },
      }),
    )
    server.get('/', (_req, res) => {
      res.send('never')
    })
    server.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).send(error.message)
    })
    const response = await request(server).get('/')
    expect(response.status).toBe(500)
    expect(response.text).toBe('skip exploded')
  })

  it('carries on when an event hook throws: the response settles, the process lives, the error is logged once', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    const commits: number[] = []
    const fail = () => {
      throw new Error('bug in the hook')
    }
    const server = app({
      store: memoryStore(),
      rules: [{ name: 'tpm', by: 'ip', tokens: 10_000, per: '1m' }],
      events: {
        onDecision: fail,
        onCommit: (event) => {
          commits.push(event.usage?.outputTokens ?? -1)
          fail()
        },
      },
    })
    try {
      for (let i = 0; i < 3; i++) await request(server).post('/v1/chat/completions').send(chat).expect(200)
      await new Promise((resolve) => setTimeout(resolve, 20))
      // Each response settled with its reported usage, though the hook threw every time.
      expect(commits).toEqual([5, 5, 5])
      const remaining = await request(server).get('/decision').expect(200)
      expect(remaining.headers['x-ratelimit-remaining-tokens']).toBeDefined()
      const messages = logged.mock.calls.map((call) => String(call[0]))
      expect(messages.filter((message) => message.includes('events.onCommit'))).toHaveLength(1)
      expect(messages.filter((message) => message.includes('events.onDecision'))).toHaveLength(1)
    } finally {
      logged.mockRestore()
    }
  })

  describe('keys by the address req.ip gives', () => {
    const perIp = () => ({
      store: memoryStore(),
      rules: [{ name: 'one', by: 'ip' as const, requests: 1, per: '1m' as const }],
    })

    it("follows Express's trust proxy setting for X-Forwarded-For", async () => {
      const server = app(perIp())
      server.set('trust proxy', true)
      await request(server).get('/decision').set('x-forwarded-for', '203.0.113.1').expect(200)
      await request(server).get('/decision').set('x-forwarded-for', '203.0.113.2').expect(200)
      await request(server).get('/decision').set('x-forwarded-for', '203.0.113.1').expect(429)
    })

    it('ignores X-Forwarded-For when proxies are not trusted', async () => {
      const server = app(perIp())
      await request(server).get('/decision').set('x-forwarded-for', '203.0.113.1').expect(200)
      await request(server).get('/decision').set('x-forwarded-for', '203.0.113.2').expect(429)
    })

    it('honours an app that replaces the ip getter, with no X-Forwarded-For at all', async () => {
      // Reading the socket's address whenever X-Forwarded-For is absent would count both clients as one.
      const server = app(perIp())
      Object.defineProperty(server.request, 'ip', {
        configurable: true,
        get(this: express.Request) {
          return this.get('x-client')
        },
      })
      await request(server).get('/decision').set('x-client', '198.51.100.1').expect(200)
      await request(server).get('/decision').set('x-client', '198.51.100.2').expect(200)
      await request(server).get('/decision').set('x-client', '198.51.100.1').expect(429)
    })
  })
})
