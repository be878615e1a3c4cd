import { Readable } from 'node:stream'
import type { CommitEvent, Decision, Estimate, LimiterOptions, Usage } from '@llm-limit/core'
import { llmLimit as expressLimit } from '@llm-limit/express'
import { llmLimit as honoLimit } from '@llm-limit/hono'
import { llmLimit as koaLimit } from '@llm-limit/koa'
import express from 'express'
import { Hono } from 'hono'
import Koa from 'koa'
import supertest from 'supertest'
import { afterEach, describe, expect, it, vi } from 'vitest'

/** A fake Gemini: one GenerateContentResponse, or the same answer as `alt=sse` chunks. */
const CHUNKS = [
  {
    candidates: [{ content: { parts: [{ text: 'AI finds ' }], role: 'model' } }],
    usageMetadata: {
      promptTokenCount: 11,
      candidatesTokenCount: 3,
      thoughtsTokenCount: 250,
      totalTokenCount: 264,
    },
    modelVersion: 'gemini-2.5-flash',
  },
  {
    candidates: [
      { content: { parts: [{ text: 'patterns in data.' }], role: 'model' }, finishReason: 'STOP' },
    ],
    usageMetadata: {
      promptTokenCount: 11,
      candidatesTokenCount: 7,
      thoughtsTokenCount: 250,
      totalTokenCount: 268,
    },
    modelVersion: 'gemini-2.5-flash',
  },
]
const JSON_ANSWER = CHUNKS[1]
const SSE_ANSWER = CHUNKS.map((chunk) => `data: ${JSON.stringify(chunk)}\r\n\r\n`)
const USAGE: Usage = { inputTokens: 11, outputTokens: 257, reasoningTokens: 250, model: 'gemini-2.5-flash' }
/** gemini-2.5-flash at $0.30 input and $2.50 output per 1M (thinking billed as output). */
const COST = Math.ceil(11 * 0.3 + 257 * 2.5)

const REQUEST = {
  contents: [{ role: 'user', parts: [{ text: 'Explain how AI works in a few words' }] }],
  generationConfig: { maxOutputTokens: 2048 },
}

interface App {
  agent: (path: string) => Promise<{ status: number; body: string; headers: Record<string, string> }>
  close: () => Promise<void>
}

/** What every app's handler does: note the decision's estimate, then answer as Gemini would. */
function answer(path: string, decision: Decision, estimates: Estimate[]): { sse: boolean } {
  estimates.push(decision.estimate)
  return { sse: path.includes('streamGenerateContent') }
}

function viaSupertest(server: import('node:http').Server): App['agent'] {
  return async (path) => {
    const response = await supertest(server)
      .post(path)
      .set('content-type', 'application/json')
      .buffer(true)
      .parse((res, done) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () => done(null, text))
      })
      .send(JSON.stringify(REQUEST))
    return { status: response.status, body: response.body as string, headers: response.headers }
  }
}

const APPS: Record<string, (options: LimiterOptions, estimates: Estimate[]) => App> = {
  express(options, estimates) {
    const app = express()
    app.use(expressLimit(options))
    app.use((req, res) => {
      if (answer(req.path, req.llmLimit as Decision, estimates).sse) {
        res.setHeader('content-type', 'text/event-stream')
        for (const event of SSE_ANSWER) res.write(event)
        res.end()
      } else res.json(JSON_ANSWER)
    })
    const server = app.listen(0, '127.0.0.1')
    return {
      agent: viaSupertest(server),
      close: () => new Promise((resolve) => server.close(() => resolve())),
    }
  },
  koa(options, estimates) {
    const app = new Koa()
    app.use(koaLimit(options))
    app.use((ctx) => {
      if (answer(ctx.path, ctx.state.llmLimit as Decision, estimates).sse) {
        ctx.type = 'text/event-stream'
        ctx.body = Readable.from(SSE_ANSWER)
      } else ctx.body = JSON_ANSWER
    })
    const server = app.listen(0, '127.0.0.1')
    return {
      agent: viaSupertest(server),
      close: () => new Promise((resolve) => server.close(() => resolve())),
    }
  },
  hono(options, estimates) {
    const app = new Hono()
    app.use(honoLimit({ ...options, getIp: () => '127.0.0.1' }))
    app.all('*', async (c) => {
      expect(await c.req.json()).toEqual(REQUEST)
      if (!answer(c.req.path, c.get('llmLimit'), estimates).sse) return c.json(JSON_ANSWER)
      const stream = new ReadableStream({
        start(controller) {
          for (const event of SSE_ANSWER) controller.enqueue(new TextEncoder().encode(event))
          controller.close()
        },
      })
      return new Response(stream, { headers: { 'content-type': 'text/event-stream' } })
    })
    return {
      agent: async (path) => {
        const response = await app.request(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(REQUEST),
        })
        return {
          status: response.status,
          body: await response.text(),
          headers: Object.fromEntries(response.headers),
        }
      },
      close: async () => {},
    }
  },
}

let open: App | undefined
afterEach(async () => {
  await open?.close()
  open = undefined
})

describe.each(Object.keys(APPS))('a Gemini call through %s', (name) => {
  it('is estimated, limited and reconciled from JSON and from an alt=sse stream', async () => {
    const commits: CommitEvent[] = []
    const estimates: Estimate[] = []
    open = APPS[name](
      {
        rules: [
          { name: 'rpm', by: 'global', requests: 2, per: '1m' },
          { name: 'tpm', by: 'global', tokens: 1_000_000, per: '1m' },
          { name: 'dollars', by: 'global', costUsd: 10, per: 'day' },
        ],
        errorFormat: 'gemini',
        events: { onCommit: (event) => commits.push(event) },
      },
      estimates,
    )

    const json = await open.agent('/v1beta/models/gemini-2.5-flash:generateContent')
    expect(json.status).toBe(200)
    expect(JSON.parse(json.body)).toEqual(JSON_ANSWER)
    const stream = await open.agent('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse')
    expect(stream.status).toBe(200)
    expect(stream.body).toBe(SSE_ANSWER.join(''))

    // Estimated: the model from the path, the output budget from generationConfig, priced from the catalog.
    expect(estimates).toHaveLength(2)
    for (const estimate of estimates) {
      expect(estimate.model).toBe('gemini-2.5-flash')
      expect(estimate.outputTokens).toBe(2048)
      expect(estimate.inputTokens).toBeGreaterThan(5)
      expect(estimate.costMicroUsd).toBe(Math.ceil(estimate.inputTokens * 0.3 + 2048 * 2.5))
    }

    // Reconciled from the JSON body and from the last streamed chunk, thoughts included.
    await vi.waitFor(() => expect(commits).toHaveLength(2))
    for (const commit of commits) {
      expect(commit.usage).toEqual(USAGE)
      expect(commit.costMicroUsd).toBe(COST)
    }

    // Limited: the third call in the minute gets Google's 429.
    const denied = await open.agent('/v1beta/models/gemini-2.5-flash:generateContent')
    expect(denied.status).toBe(429)
    const error = JSON.parse(denied.body).error
    expect(error).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED' })
    expect(error.message).toMatch(/rpm/)
    expect(Number(denied.headers['retry-after'])).toBeGreaterThanOrEqual(1)
  })
})
