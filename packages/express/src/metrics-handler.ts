import type { PrometheusMetrics } from '@llm-limit/core'
import type { Request, RequestHandler, Response } from 'express'

/** An Express handler that serves the metrics in Prometheus text format. */
export function metricsHandler(metrics: PrometheusMetrics): RequestHandler {
  return function llmLimitMetrics(_req: Request, res: Response, next) {
    metrics.metrics().then((text) => {
      res.setHeader('content-type', metrics.contentType)
      res.end(text)
    }, next)
  }
}
