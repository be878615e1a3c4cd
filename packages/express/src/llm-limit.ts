import {
  createMiddlewareCore,
  type Decision,
  isJsonContentType,
  type Limiter,
  type LimiterOptions,
  type Outcome,
  readJsonBody,
  trackInFlight,
  trackNodeResponse,
} from '@llm-limit/core'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { countedBefore, exposeDecision } from './request-slot.js'

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

/**
 * Express middleware that limits requests, tokens, concurrency and dollars.
 * @example
 * app.use(express.json())
 * app.use(llmLimit({ rules: [{ by: 'user', tokens: 100_000, per: '1m' }] }))
 */
export function llmLimit(options: LimiterOptions = {}): LlmLimitMiddleware {
  const core = createMiddlewareCore(options)

  const middleware = function llmLimitMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (countedBefore(req, middleware)) {
      next()
      return
    }
    handle(req, res).then((proceed) => {
      if (!proceed) return
      // In flight while the rest of the stack runs synchronously: where a limiter built per request would be built.
      trackInFlight(1)
      try {
        next()
      } finally {
        trackInFlight(-1)
      }
    }, next)
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
    exposeDecision(req, outcome.decision)
    if (outcome.denial) return send(res, outcome.denial, outcome.headers)
    const headers = outcome.headers
    for (const name in headers) res.setHeader(name, headers[name])
    if (outcome.tracker) trackNodeResponse(res, outcome.tracker)
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
