import type { Limiter } from '@llm-limit/core'
import type { Request, RequestHandler, Response } from 'express'

/**
 * An Express handler answering the caller its own limits and what is left of them (JSON), spending nothing.
 * @example
 * const limit = llmLimit({ rules })
 * app.get('/v1/usage', llmUsage(limit))
 * app.use(limit)
 */
export function llmUsage(limiter: Limiter | { limiter: Limiter }): RequestHandler {
  const target = 'check' in limiter ? limiter : limiter.limiter
  return function llmUsageHandler(req: Request, res: Response, next) {
    const request = {
      method: req.method,
      path: req.path,
      headers: req.headers,
      ip: req.ip ?? req.socket.remoteAddress,
    }
    target.usage(request).then((report) => {
      res.status(report.status).json(report.body)
    }, next)
  }
}
