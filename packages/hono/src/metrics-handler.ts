import type { PrometheusMetrics } from '@llm-limit/core'
import type { Context } from 'hono'

/** A Hono handler that serves the metrics in Prometheus text format. */
export function metricsHandler(metrics: PrometheusMetrics): (c: Context) => Promise<Response> {
  return async function llmLimitMetrics(c: Context) {
    return c.body(await metrics.metrics(), 200, { 'content-type': metrics.contentType })
  }
}
