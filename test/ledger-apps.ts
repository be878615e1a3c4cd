import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { pipeline, Readable } from 'node:stream'
import { serve } from '@hono/node-server'
import {
  type CommitEvent,
  createEstimator,
  type Limiter,
  type LimiterOptions,
  type LlmRequest,
  parseLlmRequest,
} from '@llm-limit/core'
import { llmLimit as expressLimit } from '@llm-limit/express'
import { llmLimit as honoLimit } from '@llm-limit/hono'
import { llmLimit as koaLimit } from '@llm-limit/koa'
import express from 'express'
import { Hono } from 'hono'
import Koa from 'koa'

/** The prices llm-limit charges with, which the fake provider bills with too. */
const catalog = createEstimator()

/** The APIs the fake provider speaks, by path. */
export type Api = 'chat' | 'responses' | 'anthropic'
/** What streams: answer text, reasoning, or tool-call arguments only. */
export type DeltaKind = 'content' | 'reasoning' | 'tool'
/** How a Responses stream ends. */
export type ResponsesEnd = 'completed' | 'incomplete' | 'failed'
/**
 * What the handler does: forward it all; fail after the upstream call began (before writing, or
 * mid-stream); cut the stream by an upstream drop (read in a loop, or piped with
 * `pipeline(…, err => err && res.end())`); destroy then end its response; or forward an upstream error.
 */
export type Behaviour =
  | 'normal'
  | 'throw-before'
  | 'throw-mid'
  | 'drop'
  | 'pipe-drop'
  | 'destroy-end'
  | 'upstream-error'

/** One call's script, sent in headers so the handler and the fake provider both follow it. */
export interface Script {
  api: Api
  stream: boolean
  deltas: number
  deltaKind: DeltaKind
  end: ResponsesEnd
  behaviour: Behaviour
  /** For cut behaviours: after how many deltas. */
  cutAt: number
}

/** What the provider billed one call. */
export interface Bill {
  model: string
  input: number
  output: number
}

export const PATHS: Record<Api, string> = {
  chat: '/v1/chat/completions',
  responses: '/v1/responses',
  anthropic: '/v1/messages',
}

const DELTA = ' the'
const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * A provider that bills like the real ones: the input as soon as a call arrives, then each output
 * token as it is handed to the app's reader (pull by pull, nothing read ahead); a cancelled call
 * stops billing. Errors are not billed.
 */
export class FakeProvider {
  readonly bills = new Map<string, Bill>()
  constructor(private readonly limiter: () => Limiter) {}

  /** Billed totals: tokens and micro-USD, at the price table's prices. */
  totals(): { tokens: number; costMicroUsd: number } {
    let tokens = 0
    let cost = 0
    for (const bill of this.bills.values()) {
      tokens += bill.input + bill.output
      cost += catalog.cost(bill.model, { inputTokens: bill.input, outputTokens: bill.output })
    }
    return { tokens, costMicroUsd: cost }
  }

  call(
    id: string,
    body: Record<string, unknown>,
    script: Script,
  ): { status: number; json?: unknown; stream?: ReadableStream<Uint8Array> } {
    if (script.behaviour === 'upstream-error')
      return { status: 500, json: { error: { message: 'The upstream failed.', type: 'server_error' } } }
    const parsed = parseLlmRequest(body, PATHS[script.api]) as LlmRequest
    const input = this.limiter().estimator.estimate(parsed).inputTokens
    const bill: Bill = { model: parsed.model, input, output: 0 }
    this.bills.set(id, bill)
    if (!script.stream) {
      bill.output = script.deltas
      return { status: 200, json: jsonAnswer(script, parsed.model, input, script.deltas) }
    }
    const events = [...openingEvents(script, input)]
    let sent = 0
    let cancelled = false
    const encoder = new TextEncoder()
    const cuts = script.behaviour === 'drop' || script.behaviour === 'pipe-drop'
    return {
      status: 200,
      stream: new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            await tick()
            if (cancelled) return
            if (events.length > 0) {
              controller.enqueue(encoder.encode(events.shift()))
              return
            }
            if (cuts && sent === script.cutAt) {
              controller.error(new Error('The upstream dropped the connection.'))
              return
            }
            if (sent < script.deltas) {
              sent++
              bill.output++
              controller.enqueue(encoder.encode(deltaEvent(script)))
              return
            }
            for (const event of closingEvents(script, body, input, sent))
              controller.enqueue(encoder.encode(event))
            controller.close()
          },
          cancel() {
            cancelled = true
          },
        },
        { highWaterMark: 0 },
      ),
    }
  }
}

const sse = (event: unknown, name?: string) =>
  `${name === undefined ? '' : `event: ${name}\n`}data: ${JSON.stringify(event)}\n\n`

function jsonAnswer(script: Script, model: string, input: number, output: number): unknown {
  const text = DELTA.repeat(output)
  if (script.api === 'anthropic')
    return {
      type: 'message',
      model,
      content: [{ type: 'text', text }],
      usage: { input_tokens: input, output_tokens: output },
    }
  if (script.api === 'responses')
    return {
      object: 'response',
      model,
      output_text: text,
      usage: { input_tokens: input, output_tokens: output },
    }
  return {
    object: 'chat.completion',
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: text } }],
    usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
  }
}

function openingEvents(script: Script, input: number): string[] {
  if (script.api === 'anthropic')
    return [sse({ type: 'message_start', message: { usage: { input_tokens: input, output_tokens: 0 } } })]
  if (script.api === 'responses') return [sse({ type: 'response.created', response: {} }, 'response.created')]
  return []
}

function deltaEvent(script: Script): string {
  if (script.api === 'anthropic') {
    const delta =
      script.deltaKind === 'reasoning'
        ? { type: 'thinking_delta', thinking: DELTA }
        : script.deltaKind === 'tool'
          ? { type: 'input_json_delta', partial_json: DELTA }
          : { type: 'text_delta', text: DELTA }
    return sse({ type: 'content_block_delta', index: 0, delta })
  }
  if (script.api === 'responses') {
    const type =
      script.deltaKind === 'reasoning'
        ? 'response.reasoning_summary_text.delta'
        : script.deltaKind === 'tool'
          ? 'response.function_call_arguments.delta'
          : 'response.output_text.delta'
    return sse({ type, delta: DELTA }, type)
  }
  const delta =
    script.deltaKind === 'reasoning'
      ? { reasoning_content: DELTA }
      : script.deltaKind === 'tool'
        ? { tool_calls: [{ index: 0, function: { arguments: DELTA } }] }
        : { content: DELTA }
  return sse({ object: 'chat.completion.chunk', choices: [{ index: 0, delta }] })
}

function closingEvents(
  script: Script,
  body: Record<string, unknown>,
  input: number,
  output: number,
): string[] {
  if (script.api === 'anthropic')
    return [sse({ type: 'message_delta', usage: { output_tokens: output } }), sse({ type: 'message_stop' })]
  if (script.api === 'responses') {
    const type = `response.${script.end}`
    return [sse({ type, response: { usage: { input_tokens: input, output_tokens: output } } }, type)]
  }
  const options = body.stream_options as { include_usage?: boolean } | undefined
  const usage =
    options?.include_usage === true
      ? [sse({ choices: [], usage: { prompt_tokens: input, completion_tokens: output } })]
      : []
  return [...usage, 'data: [DONE]\n\n']
}

/** The script of a request, from its headers. */
export function scriptOf(headers: http.IncomingHttpHeaders | Headers): Script {
  const value = headers instanceof Headers ? headers.get('x-script') : headers['x-script']
  return JSON.parse(String(value)) as Script
}

/** The id a request carries in its body (`user`, or Anthropic's `metadata.user_id`). */
export function idOf(body: Record<string, unknown>): string {
  return String(body.user ?? (body.metadata as { user_id?: string } | undefined)?.user_id)
}

/** The body of one call of the script. */
export function bodyOf(script: Script, id: string, maxTokens: number): Record<string, unknown> {
  const content = `Request ${id}: tell me about the weather in a city of your choice.`
  if (script.api === 'anthropic')
    return {
      model: 'claude-3-5-haiku',
      system: 'Be brief.',
      messages: [{ role: 'user', content }],
      max_tokens: maxTokens,
      stream: script.stream,
      metadata: { user_id: id },
    }
  if (script.api === 'responses')
    return {
      model: 'gpt-4o-mini',
      input: content,
      max_output_tokens: maxTokens,
      stream: script.stream,
      user: id,
    }
  return {
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content }],
    max_tokens: maxTokens,
    stream: script.stream,
    user: id,
  }
}

/** A running app: its port, its limiter, and how to stop it. */
export interface LedgerApp {
  port: number
  limiter: Limiter
  close(): Promise<void>
}

/** Writes the upstream's events to a Node response as the script says; resolves when done. */
async function forward(
  res: http.ServerResponse,
  stream: ReadableStream<Uint8Array>,
  script: Script,
  onClose: (cancel: () => void) => void,
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  if (script.behaviour === 'pipe-drop') {
    // The Express idiom: on an upstream error the response is destroyed, then ended.
    pipeline(Readable.fromWeb(stream as never, { highWaterMark: 0 }), res, (error) => error && res.end())
    return
  }
  const reader = stream.getReader()
  onClose(() => void reader.cancel().catch(() => {}))
  let written = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    res.write(value)
    if (value.length > 0 && new TextDecoder().decode(value).includes(DELTA)) written++
    if (script.behaviour === 'throw-mid' && written === script.cutAt) {
      await reader.cancel()
      throw new Error('The handler failed mid-stream.')
    }
    if (script.behaviour === 'destroy-end' && written === script.cutAt) {
      await reader.cancel()
      res.destroy()
      res.end()
      return
    }
  }
  res.end()
}

/** An Express app with llmLimit and a proxy handler in front of the fake provider. */
export async function expressApp(options: LimiterOptions, provider: (limiter: Limiter) => FakeProvider) {
  const app = express()
  const limit = expressLimit(options)
  const upstream = provider(limit.limiter)
  app.use(limit)
  app.post(Object.values(PATHS), async (req, res) => {
    const script = scriptOf(req.headers)
    const body = req.body as Record<string, unknown>
    const answer = upstream.call(idOf(body), body, script)
    if (script.behaviour === 'throw-before') throw new Error('The handler failed after calling upstream.')
    if (answer.stream === undefined) {
      res.status(answer.status).json(answer.json)
      return
    }
    await forward(res, answer.stream, script, (cancel) => res.once('close', cancel))
  })
  return { ...(await listen(http.createServer(app))), limiter: limit.limiter, provider: upstream }
}

/** A Koa app with llmLimit; streams go out as the body, piped by Koa. */
export async function koaApp(options: LimiterOptions, provider: (limiter: Limiter) => FakeProvider) {
  const app = new Koa()
  app.silent = true
  app.on('error', () => {})
  const limit = koaLimit(options)
  const upstream = provider(limit.limiter)
  app.use(limit)
  app.use(async (ctx) => {
    const script = scriptOf(ctx.req.headers)
    const body = ctx.request.body as Record<string, unknown>
    const answer = upstream.call(idOf(body), body, script)
    if (script.behaviour === 'throw-before') throw new Error('The handler failed after calling upstream.')
    if (answer.stream === undefined) {
      ctx.status = answer.status
      ctx.body = answer.json
      return
    }
    ctx.respond = false
    try {
      await forward(ctx.res, answer.stream, script, (cancel) => ctx.res.once('close', cancel))
    } catch (error) {
      // Koa leaves a response whose head went out open on an error; end the connection like Express does.
      ctx.res.destroy()
      throw error
    }
  })
  return { ...(await listen(http.createServer(app.callback()))), limiter: limit.limiter, provider: upstream }
}

/** A Hono app on @hono/node-server; streams are returned as the Response body. */
export async function honoApp(options: LimiterOptions, provider: (limiter: Limiter) => FakeProvider) {
  const app = new Hono()
  const limit = honoLimit(options)
  const upstream = provider(limit.limiter)
  app.use('*', limit)
  const handler = async (c: import('hono').Context) => {
    const script = scriptOf(c.req.raw.headers)
    const body = (await c.req.json()) as Record<string, unknown>
    const answer = upstream.call(idOf(body), body, script)
    if (script.behaviour === 'throw-before') throw new Error('The handler failed after calling upstream.')
    if (answer.stream === undefined) return c.json(answer.json as object, answer.status as 200)
    const outgoing = (c.env as { outgoing: http.ServerResponse }).outgoing
    return new Response(cutting(answer.stream, script, outgoing), {
      headers: { 'content-type': 'text/event-stream' },
    })
  }
  for (const path of Object.values(PATHS)) app.post(path, handler)
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as http.Server
  await new Promise<void>((resolve) => server.once('listening', resolve))
  const port = (server.address() as AddressInfo).port
  return { port, close: () => closeServer(server), limiter: limit.limiter, provider: upstream }
}

/**
 * The upstream's stream as a Hono handler returns it; at the cut, a throwing handler's stream
 * fails (node-server then destroys the response) or the handler destroys and ends the response.
 */
function cutting(
  stream: ReadableStream<Uint8Array>,
  script: Script,
  outgoing: http.ServerResponse,
): ReadableStream<Uint8Array> {
  const cuts = script.behaviour === 'throw-mid' || script.behaviour === 'destroy-end'
  if (!cuts) return stream
  const reader = stream.getReader()
  let written = 0
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (written === script.cutAt) {
          await reader.cancel()
          if (script.behaviour === 'throw-mid') controller.error(new Error('The handler failed mid-stream.'))
          else {
            outgoing.destroy()
            outgoing.end()
          }
          return
        }
        const { done, value } = await reader.read()
        if (done) return controller.close()
        if (new TextDecoder().decode(value).includes(DELTA)) written++
        controller.enqueue(value)
      },
      cancel: () => reader.cancel(),
    },
    { highWaterMark: 0 },
  )
}

async function listen(server: http.Server): Promise<{ port: number; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as AddressInfo).port, close: () => closeServer(server) }
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

/** How the client labels its body. */
export type ContentType = 'json' | 'text' | 'none' | 'form'
/** What the client does: read it all, or go away before or during the answer. */
export type Client = 'read' | 'abort-before' | 'abort-during'

/** A small seeded generator, so a failure can be replayed. */
export function random(seed: number) {
  let state = seed
  const next = () => {
    state = (state * 16_807) % 2_147_483_647
    return state / 2_147_483_647
  }
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]
  return { next, pick, int: (max: number) => Math.floor(next() * (max + 1)) }
}

/** Sends one request as a client would, and resolves however it ends (read, aborted or failed). */
export function send(
  port: number,
  agent: http.Agent,
  script: Script,
  body: Record<string, unknown>,
  contentType: ContentType,
  client: Client,
  abortAfter: number,
): Promise<void> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'x-script': JSON.stringify(script) }
    if (contentType === 'json') headers['content-type'] = 'application/json'
    else if (contentType === 'text') headers['content-type'] = 'text/plain'
    else if (contentType === 'form') headers['content-type'] = 'application/x-www-form-urlencoded'
    const request = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: PATHS[script.api],
      headers,
      agent: client === 'read' ? agent : false,
    })
    request.on('error', () => resolve())
    request.on('close', () => resolve())
    request.on('response', (response) => {
      let seen = 0
      response.on('data', (chunk: Buffer) => {
        seen += chunk.toString().split(' the').length - 1
        if (client === 'abort-during' && seen >= abortAfter) request.destroy()
      })
      response.on('error', () => resolve())
      response.on('end', () => resolve())
    })
    request.end(JSON.stringify(body))
    if (client === 'abort-before') {
      let ticks = abortAfter
      const wait = () => (ticks-- <= 0 ? request.destroy() : setImmediate(wait))
      wait()
    }
  })
}

/** What llm-limit charged, from its settlement events, and how many decisions it admitted. */
export function chargedLedger() {
  const charged = { tokens: 0, costMicroUsd: 0, settled: 0, released: 0 }
  const byId = new Map<string, CommitEvent>()
  const onCommit = (event: CommitEvent) => {
    charged.settled++
    const body = event.decision.llm?.body
    if (body !== undefined) byId.set(idOf(body), event)
    if (event.usage === undefined) {
      charged.released++
      return
    }
    charged.tokens += event.usage.inputTokens + event.usage.outputTokens
    charged.costMicroUsd += event.costMicroUsd
  }
  return { charged, byId, onCommit }
}

/** Waits until every admitted decision settled, or fails after 10 s. */
export async function settled(admitted: () => number, settledCount: () => number): Promise<void> {
  const deadline = Date.now() + 10_000
  while (settledCount() < admitted()) {
    if (Date.now() > deadline)
      throw new Error(`${admitted() - settledCount()} admitted decisions never settled.`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
