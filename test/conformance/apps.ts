import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { serve } from '@hono/node-server'
import type { LimiterOptions } from '@llm-limit/core'
import { llmLimit as expressLimit } from '@llm-limit/express'
import { llmLimit as honoLimit } from '@llm-limit/hono'
import { llmLimit as koaLimit } from '@llm-limit/koa'
import express from 'express'
import { Hono } from 'hono'
import Koa from 'koa'
import supertest from 'supertest'
import { type HandlerOutput, handle } from './fixtures.js'

/** One request of a scenario. */
export interface Send {
  method?: string
  path: string
  headers?: Record<string, string>
  /** A JSON value (serialised). */
  json?: unknown
  /** Raw text or bytes, sent as they are. */
  raw?: string | Buffer
}

/** What a scenario sees of a response. */
export interface Received {
  status: number
  headers: Record<string, string>
  body: string
}

/** An app under test: send requests, then close it. */
export interface Harness {
  send(request: Send): Promise<Received>
  close(): Promise<void>
}

function toHeaders(request: Send): Record<string, string> {
  const headers: Record<string, string> = { ...request.headers }
  if (request.json !== undefined || request.raw !== undefined) headers['content-type'] ??= 'application/json'
  return headers
}

function payload(request: Send): string | Buffer | undefined {
  return request.raw ?? (request.json === undefined ? undefined : JSON.stringify(request.json))
}

async function viaSupertest(server: import('node:http').Server, request: Send): Promise<Received> {
  const agent = supertest(server)
  const method = (request.method ?? (payload(request) === undefined ? 'GET' : 'POST')).toLowerCase() as
    | 'get'
    | 'post'
  let call = agent[method](request.path)
    .buffer(true)
    .parse((res, done) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
      })
      res.on('end', () => done(null, text))
    })
  for (const [name, value] of Object.entries(toHeaders(request))) call = call.set(name, value)
  const body = payload(request)
  // superagent would serialise bytes as JSON (`{"type":"Buffer",…}`) under a JSON content type.
  if (Buffer.isBuffer(body)) call = call.serialize((data) => data)
  const response = body === undefined ? await call : await call.send(body)
  return {
    status: response.status,
    headers: response.headers as Record<string, string>,
    body: response.body as string,
  }
}

async function write(
  output: HandlerOutput,
  reply: {
    json: (status: number, body: unknown) => void
    text: (status: number, text: string) => void
    sse: (events: string[]) => void
  },
) {
  if (output.kind === 'json') reply.json(output.status, output.body)
  else if (output.kind === 'text') reply.text(output.status, output.text)
  else reply.sse(output.events)
}

/** Express app with the shared handlers. */
export function expressHarness(options: LimiterOptions | undefined): Harness {
  const app = express()
  app.use(expressLimit(options))
  app.use(async (req, res, next) => {
    try {
      await write(await handle({ path: req.path, body: req.body, decision: req.llmLimit }), {
        json: (status, body) => res.status(status).json(body),
        text: (status, text) => res.status(status).type('text/plain').send(text),
        sse: (events) => {
          res.setHeader('content-type', 'text/event-stream')
          for (const event of events) res.write(event)
          res.end()
        },
      })
    } catch (error) {
      next(error)
    }
  })
  const server = app.listen(0, '127.0.0.1')
  return {
    send: (request) => viaSupertest(server, request),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

/** Koa app with the shared handlers. */
export function koaHarness(options: LimiterOptions | undefined): Harness {
  const app = new Koa()
  app.use(koaLimit(options))
  app.use(async (ctx) => {
    await write(await handle({ path: ctx.path, body: ctx.request.body, decision: ctx.state.llmLimit }), {
      json: (status, body) => {
        ctx.status = status
        ctx.body = body
      },
      text: (status, text) => {
        ctx.status = status
        ctx.type = 'text/plain'
        ctx.body = text
      },
      sse: (events) => {
        ctx.type = 'text/event-stream'
        ctx.body = Readable.from(events)
      },
    })
  })
  const server = app.listen(0, '127.0.0.1')
  return {
    send: (request) => viaSupertest(server, request),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

function honoApp(options: LimiterOptions | undefined): Hono {
  const app = new Hono()
  app.use(honoLimit({ ...options, getIp: () => '127.0.0.1' }))
  app.all('*', async (c) => {
    const body = c.req.header('content-type')?.includes('json')
      ? await c.req.json().catch(() => undefined)
      : undefined
    let response: Response | undefined
    await write(await handle({ path: c.req.path, body, decision: c.get('llmLimit') }), {
      json: (status, data) => {
        response = c.json(data as object, status as 200)
      },
      text: (status, text) => {
        response = c.text(text, status as 200)
      },
      sse: (events) => {
        const stream = new ReadableStream({
          start(controller) {
            for (const event of events) controller.enqueue(new TextEncoder().encode(event))
            controller.close()
          },
        })
        response = new Response(stream, { headers: { 'content-type': 'text/event-stream' } })
      },
    })
    return response as Response
  })
  return app
}

async function viaFetch(
  fetcher: (url: string, init: RequestInit) => Promise<Response> | Response,
  base: string,
  request: Send,
): Promise<Received> {
  const body = payload(request)
  const response = await fetcher(`${base}${request.path}`, {
    method: request.method ?? (body === undefined ? 'GET' : 'POST'),
    headers: toHeaders(request),
    body: typeof body === 'string' || body === undefined ? body : new Uint8Array(body),
  })
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers),
    body: await response.text(),
  }
}

/** Hono through `app.request()`, no network. */
export function honoRequestHarness(options: LimiterOptions | undefined): Harness {
  const app = honoApp(options)
  return {
    send: (request) => viaFetch((url, init) => app.request(url, init), '', request),
    close: async () => {},
  }
}

/** Hono on a real @hono/node-server. */
export async function honoNodeHarness(options: LimiterOptions | undefined): Promise<Harness> {
  const app = new Hono()
  app.route('/', honoApp(options))
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo
  return {
    send: (request) => viaFetch(fetch, `http://127.0.0.1:${port}`, request),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
