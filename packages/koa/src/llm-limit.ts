import {
  alreadyCounted,
  createMiddlewareCore,
  type Decision,
  type ErrorResponse,
  type Limiter,
  type LimiterOptions,
  trackInFlight,
  trackNodeResponse,
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

/**
 * Koa middleware that limits requests, tokens, concurrency and dollars; the decision is on
 * `ctx.state.llmLimit`.
 * @example
 * app.use(llmLimit({ rules: [{ by: 'user', tokens: 100_000, per: '1m' }] }))
 */
export function llmLimit(options: LimiterOptions = {}): LlmLimitMiddleware {
  const core = createMiddlewareCore(options)

  const middleware = async function llmLimitMiddleware(ctx: Context, next: Next): Promise<void> {
    if (alreadyCounted(ctx, middleware)) return next()
    // Node's request directly: Koa's delegating getters cost a call each on every request.
    const req = ctx.req
    const headers = req.headers
    // `ctx.path` and `ctx.ip` stay Koa's: they honour mounting and `app.proxy`.
    const path = ctx.path
    const mode =
      ctx.request.body === undefined
        ? core.readMode(req.method as string, path, headers['content-type'] || undefined)
        : undefined
    if (mode !== undefined && req.readable) {
      const read = await core.readBody(req, headers, mode)
      if (!read.ok) return send(ctx, core.bodyError(read.status, read.message))
      ctx.request.body = read.body
    }
    const request = {
      method: req.method as string,
      path,
      headers,
      ip: ctx.ip,
      body: ctx.request.body,
    }
    const handled = core.handle(request, req, req.socket.remoteAddress)
    // Awaiting only a real promise saves a microtask when the store answered synchronously.
    const outcome = handled instanceof Promise ? await handled : handled
    ctx.state.llmLimit = outcome.decision
    const res = ctx.res
    for (const name in outcome.headers) res.setHeader(name, outcome.headers[name])
    if (outcome.denial) return send(ctx, outcome.denial)
    const tracker = outcome.tracker
    // Koa writes the body to Node's response after the middleware chain returns, so the tracker sees it there.
    if (tracker) trackNodeResponse(res, tracker)
    trackInFlight(1)
    let pending: Promise<unknown>
    try {
      pending = next()
    } finally {
      // Only the synchronous part of the handler counts as "inside": requests waiting on I/O do not.
      trackInFlight(-1)
    }
    try {
      await pending
    } catch (error) {
      // A thrown 4xx (`ctx.throw(400)`) is the app refusing the call; anything else may come after it began.
      const status = (error as { status?: unknown } | null)?.status
      if (!(typeof status === 'number' && status < 500)) tracker?.fail()
      throw error
    }
  } as LlmLimitMiddleware

  middleware.limiter = core.limiter
  return middleware
}

function send(ctx: Context, denial: ErrorResponse): void {
  ctx.status = denial.status
  ctx.type = denial.contentType
  ctx.body = denial.body
}
