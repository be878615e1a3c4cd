import {
  createMiddlewareCore,
  type Decision,
  type Limiter,
  type LimiterOptions,
  type Outcome,
  type ReadMode,
  trackInFlight,
  trackNodeResponse,
} from '@llm-limit/core'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { countedBefore, exposeDecision, shareHiddenClass } from './request-slot.js'

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
    // First: from here on every property read on req and res, by llmLimit, Express and the
    // handlers after it, can hit V8's caches (see shareHiddenClass).
    shareHiddenClass(req)
    shareHiddenClass(res)
    if (countedBefore(req, middleware)) {
      next()
      return
    }
    try {
      // Each property is read once, and `readable` only for a body llmLimit must read itself.
      const headers = req.headers
      const body = req.body
      const method = req.method
      const url = req.originalUrl
      const query = url.indexOf('?')
      const path = query < 0 ? url : url.slice(0, query)
      const mode = body === undefined ? core.readMode(method, path, headers['content-type']) : undefined
      if (mode !== undefined && req.readable) {
        readBody(req, res, headers, mode).then(
          (read) => read && decide(req, res, next, method, path, headers, req.body),
          next,
        )
      } else decide(req, res, next, method, path, headers, body)
    } catch (error) {
      next(error)
    }
  } as LlmLimitMiddleware

  /** Reads and parses the body itself when no parser ran; false when it answered an error. */
  async function readBody(
    req: Request,
    res: Response,
    headers: Request['headers'],
    mode: ReadMode,
  ): Promise<boolean> {
    const read = await core.readBody(req, headers, mode)
    if (!read.ok) return send(res, core.bodyError(read.status, read.message), {})
    req.body = read.body
    return true
  }

  /** Asks the core, synchronously when the store answers so, then answers or hands on. */
  function decide(
    req: Request,
    res: Response,
    next: NextFunction,
    method: string,
    path: string,
    headers: Request['headers'],
    body: unknown,
  ): void {
    const socket = req.socket
    const request = { method, path, headers, ip: req.ip ?? socket.remoteAddress, body }
    const outcome = core.handle(request, req, socket.remoteAddress)
    if (outcome instanceof Promise) outcome.then((ready) => proceed(ready, req, res, next), next)
    else proceed(outcome, req, res, next)
  }

  middleware.limiter = core.limiter
  return middleware
}

function proceed(outcome: Outcome, req: Request, res: Response, next: NextFunction): void {
  exposeDecision(req, outcome.decision)
  if (outcome.denial) {
    send(res, outcome.denial, outcome.headers)
    return
  }
  const headers = outcome.headers
  for (const name in headers) res.setHeader(name, headers[name])
  if (outcome.tracker) trackNodeResponse(res, outcome.tracker)
  // In flight while the rest of the stack runs synchronously: where a limiter built per request would be built.
  trackInFlight(1)
  try {
    next()
  } finally {
    trackInFlight(-1)
  }
}

function send(res: Response, denial: NonNullable<Outcome['denial']>, headers: Record<string, string>): false {
  for (const name in headers) res.setHeader(name, headers[name])
  res.status(denial.status).setHeader('content-type', `${denial.contentType}; charset=utf-8`)
  res.end(denial.body)
  return false
}
