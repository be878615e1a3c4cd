import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  alreadyCounted,
  clientIpFromForwarded,
  createMiddlewareCore,
  type Decision,
  errorWebResponse,
  isJsonContentType,
  type Limiter,
  type LimiterOptions,
  type NodeResponse,
  readJsonBody,
  trackInFlight,
  trackNodeResponse,
  trackWebResponse,
  webStreamChunks,
} from '@llm-limit/core'
import type { Context, MiddlewareHandler } from 'hono'

declare module 'hono' {
  interface ContextVariableMap {
    /** The llm-limit decision for this request, set by `llmLimit()`. */
    llmLimit: Decision
  }
}

/** Options of the Hono adapter: the core options plus how to find the client IP. */
export interface HonoLimitOptions extends LimiterOptions {
  /**
   * Returns the client IP. Hono has no portable trusted IP; on @hono/node-server the socket address
   * is used, and `X-Forwarded-For` only when `trustedProxies` lists the peer.
   * @default the socket's remote address
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

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

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
  const getIp = options.getIp ?? socketIp(options.trustedProxies ?? [])

  const middleware = async function llmLimitMiddleware(c: Context, next: () => Promise<void>) {
    if (alreadyCounted(c, middleware)) return next()
    const { incoming, outgoing } = (c.env ?? {}) as NodeBindings
    // On @hono/node-server, Node's own request holds the headers; touching c.req.raw.headers would
    // build a full fetch Request for every request.
    const headers = incoming?.headers ?? Object.fromEntries(c.req.raw.headers)
    const type = headers['content-type'] as string | undefined
    let body: unknown
    if (BODY_METHODS.has(c.req.method) && isJsonContentType(type)) {
      // Read a clone so the handler can still read the original; the parsed JSON is cached for it.
      const clone = c.req.raw.clone().body as ReadableStream<Uint8Array>
      const contentLength = headers['content-length'] as string | undefined
      const read = await readJsonBody(
        webStreamChunks(clone),
        type,
        core.maxBodyBytes,
        contentLength,
        headers['content-encoding'] as string | undefined,
      )
      if (!read.ok) return errorWebResponse(core.bodyError(read.status, read.message), {})
      body = read.body
      const cache = (c.req as unknown as { bodyCache?: Record<string, unknown> }).bodyCache
      if (cache && body !== undefined) cache.json = Promise.resolve(body)
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
    }
    trackInFlight(1)
    try {
      await next()
    } finally {
      trackInFlight(-1)
    }
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

/** The socket address from @hono/node-server, honouring X-Forwarded-For only from trusted proxies. */
export function socketIp(trustedProxies: readonly string[]): (c: Context) => string | undefined {
  return (c) => {
    const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined
    const remote = env?.incoming?.socket?.remoteAddress
    if (remote === undefined || trustedProxies.length === 0) return remote
    return clientIpFromForwarded(remote, c.req.header('x-forwarded-for'), trustedProxies)
  }
}
