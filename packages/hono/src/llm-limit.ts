import {
  clientIpFromForwarded,
  createMiddlewareCore,
  type Decision,
  type ErrorResponse,
  isJsonContentType,
  type Limiter,
  type LimiterOptions,
  type LimitRequest,
  type ResponseTracker,
  readJsonBody,
  trackInFlight,
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

const SEEN = 'llm-limit.seen'
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

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
    const seen = (c.get(SEEN as never) as Set<unknown> | undefined) ?? new Set<unknown>()
    if (seen.has(middleware)) return next()
    seen.add(middleware)
    c.set(SEEN as never, seen as never)
    // On @hono/node-server, Node's own request holds the headers; touching c.req.raw.body would build
    // a full fetch Request (and an AbortSignal) for every request.
    const incoming = (
      c.env as
        | { incoming?: { headers: LimitRequest['headers']; socket?: { remoteAddress?: string } } }
        | undefined
    )?.incoming
    const headers = incoming?.headers ?? Object.fromEntries(c.req.raw.headers)
    const type = headers['content-type'] as string | undefined
    let body: unknown
    if (BODY_METHODS.has(c.req.method) && isJsonContentType(type)) {
      // Read a clone so the handler can still read the original; the parsed JSON is cached for it.
      const clone = c.req.raw.clone().body as ReadableStream<Uint8Array>
      const read = await readJsonBody(
        chunks(clone),
        type,
        core.maxBodyBytes,
        headers['content-length'] as string | undefined,
      )
      if (!read.ok) return respond(core.bodyError(read.status, read.message), {})
      body = read.body
      const cache = (c.req as unknown as { bodyCache?: Record<string, unknown> }).bodyCache
      if (cache && body !== undefined) cache.json = Promise.resolve(body)
    }
    const outcome = await core.handle(
      { method: c.req.method, path: c.req.path, headers, ip: getIp(c), body },
      c.req.raw,
      incoming?.socket?.remoteAddress,
    )
    c.set('llmLimit', outcome.decision)
    if (outcome.denial) return respond(outcome.denial, outcome.headers)
    trackInFlight(1)
    try {
      await next()
    } finally {
      trackInFlight(-1)
    }
    const res = finish(c.res, outcome.headers, outcome.tracker)
    if (res !== c.res) {
      // Clearing first stops Hono's setter from copying the old response's headers over ours.
      c.res = undefined
      c.res = res
    }
  } as LlmLimitMiddleware

  middleware.limiter = core.limiter
  return middleware
}

/**
 * The chunks of a stream; stopping early cancels it without waiting, because cancelling one branch
 * of a cloned (tee'd) body only settles once the other branch is cancelled too.
 */
function chunks(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = stream.getReader()
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => reader.read() as Promise<IteratorResult<Uint8Array>>,
      return: () => {
        reader.cancel().catch(() => {})
        return Promise.resolve({ done: true as const, value: undefined })
      },
    }),
  }
}

function respond(denial: ErrorResponse, headers: Record<string, string>): Response {
  return new Response(denial.body, {
    status: denial.status,
    headers: { ...headers, 'content-type': `${denial.contentType}; charset=utf-8` },
  })
}

/**
 * Adds our headers to the response in place (keeping @hono/node-server's fast path), or returns a
 * new response when the body must be teed into the tracker or the headers are immutable (fetch()).
 * A new response is built from an explicit init: node-server's lightweight Response drops headers
 * set on a response it copies.
 */
function finish(
  res: Response,
  headers: Record<string, string>,
  tracker: ResponseTracker | undefined,
): Response {
  if (!tracker) {
    try {
      const target = res.headers
      for (const name in headers) target.set(name, headers[name])
      return res
    } catch {
      // Immutable headers: fall through and rebuild.
    }
  }
  let body = res.body
  if (tracker) {
    tracker.headers(res.status, res.headers.get('content-type') ?? undefined)
    if (body) body = tee(body, tracker)
    else tracker.finish()
  }
  const merged = new Headers(res.headers)
  for (const name in headers) merged.set(name, headers[name])
  return new Response(body, { status: res.status, statusText: res.statusText, headers: merged })
}

function tee(
  body: ReadableStream<Uint8Array>,
  tracker: ResponseTracker,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  const reader = body.getReader()
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read()
        if (done) {
          tracker.finish()
          controller.close()
          return
        }
        tracker.chunk(value)
        controller.enqueue(value as Uint8Array<ArrayBuffer>)
      } catch (error) {
        tracker.abort()
        controller.error(error)
      }
    },
    cancel(reason) {
      tracker.abort()
      return reader.cancel(reason)
    },
  })
}

/** The socket address from @hono/node-server, honouring X-Forwarded-For only from trusted proxies. */
function socketIp(trustedProxies: readonly string[]): (c: Context) => string | undefined {
  return (c) => {
    const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined
    const remote = env?.incoming?.socket?.remoteAddress
    if (remote === undefined || trustedProxies.length === 0) return remote
    return clientIpFromForwarded(remote, c.req.header('x-forwarded-for'), trustedProxies)
  }
}
