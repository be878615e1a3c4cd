import { Readable, Transform } from 'node:stream'
import {
  createMiddlewareCore,
  type Decision,
  type ErrorResponse,
  isJsonContentType,
  type Limiter,
  type LimiterOptions,
  type ResponseTracker,
  readJsonBody,
  trackInFlight,
} from '@llm-limit/core'
import type { Context, Middleware, Next } from 'koa'

declare module 'koa' {
  interface DefaultState {
    /** The llm-limit decision for this request, set by `llmLimit()`. */
    llmLimit?: Decision
  }
  interface Request {
    /** The parsed JSON body (set by a body parser, or by `llmLimit()` when none ran). */
    body?: unknown
  }
}

/** The middleware returned by `llmLimit()`, with its limiter attached. */
export interface LlmLimitMiddleware extends Middleware {
  /** The limiter behind the middleware. */
  limiter: Limiter
}

const SEEN = Symbol('llm-limit.seen')

/**
 * Koa middleware that limits requests, tokens, concurrency and dollars; the decision is on
 * `ctx.state.llmLimit`.
 * @example
 * app.use(llmLimit({ rules: [{ by: 'user', tokens: 100_000, per: '1m' }] }))
 */
export function llmLimit(options: LimiterOptions = {}): LlmLimitMiddleware {
  const core = createMiddlewareCore(options)

  const middleware = async function llmLimitMiddleware(ctx: Context, next: Next): Promise<void> {
    const state = ctx.state as Record<symbol, Set<unknown>>
    const seen = state[SEEN] ?? new Set<unknown>()
    state[SEEN] = seen
    if (seen.has(middleware)) return next()
    seen.add(middleware)
    const type = ctx.get('content-type') || undefined
    if (ctx.request.body === undefined && ctx.req.readable && isJsonContentType(type)) {
      const read = await readJsonBody(
        ctx.req,
        type,
        core.maxBodyBytes,
        ctx.get('content-length') || undefined,
      )
      if (!read.ok) return send(ctx, core.bodyError(read.status, read.message))
      ctx.request.body = read.body
    }
    const outcome = await core.handle(
      { method: ctx.method, path: ctx.path, headers: ctx.headers, ip: ctx.ip, body: ctx.request.body },
      ctx.req,
      ctx.req.socket.remoteAddress,
    )
    ctx.state.llmLimit = outcome.decision
    ctx.set(outcome.headers)
    if (outcome.denial) return send(ctx, outcome.denial)
    const tracker = outcome.tracker
    trackInFlight(1)
    try {
      await next()
    } catch (error) {
      tracker?.abort()
      throw error
    } finally {
      trackInFlight(-1)
    }
    if (tracker) track(ctx, tracker)
  } as LlmLimitMiddleware

  middleware.limiter = core.limiter
  return middleware
}

function send(ctx: Context, denial: ErrorResponse): void {
  ctx.status = denial.status
  ctx.type = denial.contentType
  ctx.body = denial.body
}

/** Feeds the body Koa is about to send into the tracker; settles on finish or abort. */
function track(ctx: Context, tracker: ResponseTracker): void {
  tracker.headers(ctx.status, ctx.response.get('content-type') || undefined)
  const body: unknown = ctx.body
  if (body instanceof Readable) {
    const type = ctx.response.get('content-type')
    ctx.body = body.pipe(
      new Transform({
        transform(chunk: Buffer | string, _encoding, callback) {
          tracker.chunk(chunk)
          callback(null, chunk)
        },
      }),
    )
    // Replacing the body must not lose the content type the handler chose.
    if (type) ctx.type = type
  } else if (typeof body === 'string' || body instanceof Uint8Array) {
    tracker.chunk(body)
  } else if (body !== null && body !== undefined) {
    tracker.chunk(JSON.stringify(body))
  }
  ctx.res.once('finish', () => tracker.finish())
  ctx.res.once('close', () => {
    if (!ctx.res.writableFinished) tracker.abort()
  })
}
