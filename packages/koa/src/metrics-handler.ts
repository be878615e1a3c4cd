import type { PrometheusMetrics } from '@llm-limit/core'
import type { Context, Middleware } from 'koa'

/** A Koa middleware that serves the metrics in Prometheus text format. */
export function metricsHandler(metrics: PrometheusMetrics): Middleware {
  return async function llmLimitMetrics(ctx: Context) {
    ctx.type = metrics.contentType
    ctx.body = await metrics.metrics()
  }
}
