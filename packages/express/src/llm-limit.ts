import {
  createMiddlewareCore,
  type Decision,
  isJsonContentType,
  type Limiter,
  type LimiterOptions,
  type Outcome,
  readJsonBody,
  trackInFlight,
} from '@llm-limit/core'
import type { NextFunction, Request, RequestHandler, Response } from 'express'

declare global {
  namespace Express {
    interface Request {
      /** The llm-limit decision for this request, set by `llmLimit()`. */
      llmLimit?: Decision
    }
  }
}

/** The middleware returned by `llmLimit()`, with its limiter attached. */
export interface LlmLimitMiddleware extends RequestHandler {
  /** The limiter behind the middleware (for `limiter.check()` outside Express, or `close()`). */
  limiter: Limiter
}

/** Marks requests this middleware already counted, so a second mount never counts them twice. */
const SEEN = Symbol('llm-limit.seen')
type Marked = Request & { [SEEN]?: Set<LlmLimitMiddleware> }

/**
 * Express middleware that limits requests, tokens, concurrency and dollars.
 * @example
 * app.use(express.json())
 * app.use(llmLimit({ rules: [{ by: 'user', tokens: 100_000, per: '1m' }] }))
 */
export function llmLimit(options: LimiterOptions = {}): LlmLimitMiddleware {
  const core = createMiddlewareCore(options)

  const middleware = function llmLimitMiddleware(req: Request, res: Response, next: NextFunction): void {
    const marked = req as Marked
    const seen = marked[SEEN] ?? new Set()
    marked[SEEN] = seen
    if (seen.has(middleware)) {
      next()
      return
    }
    seen.add(middleware)
    handle(req, res).then((proceed) => proceed && next(), next)
  } as LlmLimitMiddleware

  async function handle(req: Request, res: Response): Promise<boolean> {
    if (req.body === undefined && req.readable && isJsonContentType(req.headers['content-type'])) {
      const read = await readJsonBody(
        req,
        req.headers['content-type'],
        core.maxBodyBytes,
        req.headers['content-length'],
      )
      if (!read.ok) return send(res, core.bodyError(read.status, read.message), {})
      req.body = read.body
    }
    const url = req.originalUrl
    const query = url.indexOf('?')
    const outcome = await core.handle(
      {
        method: req.method,
        path: query < 0 ? url : url.slice(0, query),
        headers: req.headers,
        ip: req.ip ?? req.socket.remoteAddress,
        body: req.body,
      },
      req,
      req.socket.remoteAddress,
    )
    req.llmLimit = outcome.decision
    if (outcome.denial) return send(res, outcome.denial, outcome.headers)
    for (const name in outcome.headers) res.setHeader(name, outcome.headers[name])
    if (outcome.tracker) track(res, outcome.tracker)
    trackInFlight(1)
    res.once('close', () => trackInFlight(-1))
    return true
  }

  middleware.limiter = core.limiter
  return middleware
}

function send(res: Response, denial: NonNullable<Outcome['denial']>, headers: Record<string, string>): false {
  for (const name in headers) res.setHeader(name, headers[name])
  res.status(denial.status).setHeader('content-type', `${denial.contentType}; charset=utf-8`)
  res.end(denial.body)
  return false
}

/** Tees the response body into the tracker and settles on finish or abort. */
function track(res: Response, tracker: NonNullable<Outcome['tracker']>): void {
  const write = res.write
  const end = res.end
  let started = false
  const start = () => {
    if (started) return
    started = true
    tracker.headers(res.statusCode, res.getHeader('content-type')?.toString())
  }
  res.write = function (this: Response, chunk: unknown, ...rest: unknown[]) {
    start()
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) tracker.chunk(chunk)
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest)
  } as Response['write']
  res.end = function (this: Response, chunk?: unknown, ...rest: unknown[]) {
    start()
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) tracker.chunk(chunk)
    return (end as (...args: unknown[]) => Response).call(this, chunk, ...rest)
  } as Response['end']
  res.once('finish', () => tracker.finish())
  res.once('close', () => {
    if (!res.writableFinished) tracker.abort()
  })
}
