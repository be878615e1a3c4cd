import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  alreadyCounted,
  createMiddlewareCore,
  type Decision,
  errorWebResponse,
  type Limiter,
  type LimiterOptions,
  type NodeResponse,
  trackInFlight,
  trackNodeResponse,
  trackWebResponse,
  webStreamChunks,
} from '@llm-limit/core'
import type { Context, MiddlewareHandler } from 'hono'
import { runtimeIp } from './client-ip.js'
import { settleBeforeExit } from './wait-until.js'

declare module 'hono' {
  interface ContextVariableMap {
    /** The llm-limit decision for this request, set by `llmLimit()`. */
    llmLimit: Decision
  }
}

/** Options of the Hono adapter: the core options plus how to find the client IP. */
export interface HonoLimitOptions extends LimiterOptions {
  /**
   * Returns the client IP. Hono has no portable trusted IP; the runtime's own peer address is used
   * (Node's socket, Bun's `server.requestIP()`, Deno's `info.remoteAddr`, `CF-Connecting-IP` on
   * Cloudflare Workers), and `X-Forwarded-For` only when `trustedProxies` lists the peer.
   * @default the runtime's peer address
   */
  getIp?: (c: Context) => string | undefined
  /** Proxies (IPs or CIDRs) whose `X-Forwarded-For` is believed. @default [] */
  trustedProxies?: readonly string[]
}

/** The middleware returned by `llmLimit()`, with its limiter attached. */
export type LlmLimitMiddleware = MiddlewareHandler & {
  /** The limiter behind the middleware. */
  limiter: Limiter
}

/** What @hono/node-server puts in `c.env`: Node's own request and response. */
type NodeBindings = { incoming?: IncomingMessage; outgoing?: NodeResponse & ServerResponse }

/**
 * Hono middleware that limits requests, tokens, concurrency and dollars; the decision is
 * `c.get('llmLimit')`.
 * @example
 * app.use('/v1/*', llmLimit({ rules: [{ by: 'user', tokens: 100_000, per: '1m' }] }))
 */
export function llmLimit(options: HonoLimitOptions = {}): LlmLimitMiddleware {
  const core = createMiddlewareCore(options)
  const getIp = options.getIp ?? runtimeIp(options.trustedProxies ?? [])

  const middleware = async function llmLimitMiddleware(c: Context, next: () => Promise<void>) {
    if (alreadyCounted(c, middleware)) return next()
    const { incoming, outgoing } = (c.env ?? {}) as NodeBindings
    // On @hono/node-server, Node's own request holds the headers; touching c.req.raw.headers would
    // build a full fetch Request for every request.
    const headers = incoming?.headers ?? Object.fromEntries(c.req.raw.headers)
    const type = headers['content-type'] as string | undefined
    let body: unknown
    const mode = core.readMode(c.req.method, c.req.path, type)
    if (mode !== undefined && c.req.raw.body !== null) {
      // Read a clone so the handler can still read the original; parsed JSON is cached for it.
      const clone = c.req.raw.clone().body as ReadableStream<Uint8Array>
      const read = await core.readBody(webStreamChunks(clone), headers, mode)
      if (!read.ok) {
        // The unread original pauses Node's request as it fills: let it flow, so node-server can
        // drain the rest and the client reads its 413 instead of a reset.
        if (read.status === 413 && incoming !== undefined) incoming.removeAllListeners('data').resume()
        return errorWebResponse(core.bodyError(read.status, read.message), {})
      }
      body = read.body
      const cache = (c.req as unknown as { bodyCache?: Record<string, unknown> }).bodyCache
      if (cache && typeof body === 'object' && body !== null) cache.json = Promise.resolve(body)
    }
    const request = { method: c.req.method, path: c.req.path, headers, ip: getIp(c), body }
    const handled = core.handle(request, c.req.raw, incoming?.socket?.remoteAddress)
    // Awaiting only a real promise saves a microtask when the store answered synchronously.
    const outcome = handled instanceof Promise ? await handled : handled
    c.set('llmLimit', outcome.decision)
    if (outcome.denial) return errorWebResponse(outcome.denial, outcome.headers)
    const onNode = outgoing !== undefined && typeof outgoing.setHeader === 'function'
    if (onNode) {
      // Node's response takes the headers now and merges the handler's over them, which keeps
      // node-server's fast path (a Response whose headers are never materialised).
      for (const name in outcome.headers) outgoing.setHeader(name, outcome.headers[name])
      if (outcome.tracker) trackNodeResponse(outgoing, outcome.tracker)
    } else if (outcome.tracker) settleBeforeExit(c, outcome.decision, outcome.tracker)
    trackInFlight(1)
    let pending: Promise<void>
    try {
      pending = next()
    } finally {
      // Only the synchronous part of the handler counts as "inside": requests waiting on I/O do not.
      trackInFlight(-1)
    }
    await pending
    // Hono catches a handler's throw and keeps it on `c.error`; a thrown 4xx is the app refusing the call.
    const error = c.error as { status?: unknown } | undefined
    if (error !== undefined && !(typeof error.status === 'number' && error.status < 500))
      outcome.tracker?.fail()
    if (onNode) return
    const res = trackWebResponse(c.res, outcome.headers, outcome.tracker)
    if (res !== c.res) {
      // Clearing first stops Hono's setter from copying the old response's headers over ours.
      c.res = undefined
      c.res = res
    }
  } as LlmLimitMiddleware

  middleware.limiter = core.limiter
  return middleware
}
