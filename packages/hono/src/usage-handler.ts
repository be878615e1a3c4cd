import type { Limiter } from '@llm-limit/core'
import type { Context } from 'hono'
import { runtimeIp } from './client-ip.js'

/**
 * A Hono handler answering the caller its own limits and what is left of them (JSON), spending nothing.
 * @example
 * app.get('/v1/usage', llmUsage(limit))
 */
export function llmUsage(
  limiter: Limiter | { limiter: Limiter },
  options: { getIp?: (c: Context) => string | undefined; trustedProxies?: string[] } = {},
): (c: Context) => Promise<Response> {
  const target = 'check' in limiter ? limiter : limiter.limiter
  // Identify the caller as `llmLimit()` does: pass the same `getIp` / `trustedProxies`.
  const getIp = options.getIp ?? runtimeIp(options.trustedProxies ?? [])
  return async function llmUsageHandler(c: Context) {
    const headers: Record<string, string> = {}
    c.req.raw.headers.forEach((value, name) => {
      headers[name] = value
    })
    const report = await target.usage({ method: c.req.method, path: c.req.path, headers, ip: getIp(c) })
    return c.json(report.body, report.status as 200)
  }
}
