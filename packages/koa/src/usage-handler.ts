import type { Limiter } from '@llm-limit/core'
import type { Middleware } from 'koa'

/**
 * A Koa middleware answering the caller its own limits and what is left of them (JSON), spending nothing.
 * @example
 * router.get('/v1/usage', llmUsage(limit))
 */
export function llmUsage(limiter: Limiter | { limiter: Limiter }): Middleware {
  const target = 'check' in limiter ? limiter : limiter.limiter
  return async function llmUsageHandler(ctx) {
    const report = await target.usage({
      method: ctx.method,
      path: ctx.path,
      headers: ctx.headers,
      ip: ctx.ip,
    })
    ctx.status = report.status
    ctx.body = report.body
  }
}
