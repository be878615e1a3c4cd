import type * as PromClient from 'prom-client'
import type { Decision } from '../engine/decision.js'
import type { LimiterEvents, Priority } from '../engine/options.js'
import type { Store } from '../store/store.js'
import { timedStore } from './timed-store.js'

/** Options of `prometheusMetrics()`. */
export interface PrometheusOptions {
  /** The prom-client module (an optional peer dependency): `import * as client from 'prom-client'`. */
  client: typeof PromClient
  /** Registry to register in. @default a new Registry */
  registry?: PromClient.Registry
  /** Prefix of every metric name. @default 'llm_limit_' */
  prefix?: string
  /** Share of a rule's limit left below which a decision counts as near the limit. @default 0.2 */
  nearLimitShare?: number
}

/** Metrics of one or more limiters, ready to scrape. */
export interface PrometheusMetrics {
  /** Pass as `events` (or merge with yours using `mergeEvents`). */
  readonly events: LimiterEvents
  /** Wraps a store so its latency and errors are measured. */
  instrument<S extends Store>(store: S): S
  /** Reports the queue depth of a limiter (its `queueDepth()`). */
  watchQueue(source: { queueDepth(): Record<Priority, number> }): void
  /** The registry holding the metrics. */
  readonly registry: PromClient.Registry
  /** Content-Type of the scrape. */
  readonly contentType: string
  /** The scrape body in Prometheus text format. */
  metrics(): Promise<string>
}

/**
 * Prometheus metrics for llm-limit: decisions, tokens reserved and committed, actual ÷ estimated
 * tokens, cost by model, store latency and errors, near-limit decisions and queue depth.
 * @example
 * const metrics = prometheusMetrics({ client: await import('prom-client') })
 * app.use(llmLimit({ store: metrics.instrument(memoryStore()), events: metrics.events }))
 */
export function prometheusMetrics(options: PrometheusOptions): PrometheusMetrics {
  const { client } = options
  const registry = options.registry ?? new client.Registry()
  const prefix = options.prefix ?? 'llm_limit_'
  const nearShare = options.nearLimitShare ?? 0.2
  const registers = [registry]
  const decisions = new client.Counter({
    name: `${prefix}decisions_total`,
    help: 'Decisions by outcome, reason and deciding rule.',
    labelNames: ['outcome', 'reason', 'rule'],
    registers,
  })
  const reserved = new client.Counter({
    name: `${prefix}tokens_reserved_total`,
    help: 'Tokens reserved by admitted requests (estimates).',
    labelNames: ['model'],
    registers,
  })
  const committed = new client.Counter({
    name: `${prefix}tokens_committed_total`,
    help: 'Tokens actually used, as reconciled.',
    labelNames: ['model'],
    registers,
  })
  const accuracy = new client.Histogram({
    name: `${prefix}token_estimate_ratio`,
    help: 'Actual tokens divided by estimated tokens per request.',
    labelNames: ['model'],
    buckets: [0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 4],
    registers,
  })
  const cost = new client.Counter({
    name: `${prefix}cost_micro_usd_total`,
    help: 'Actual cost in micro-USD.',
    labelNames: ['model'],
    registers,
  })
  const latency = new client.Histogram({
    name: `${prefix}store_latency_seconds`,
    help: 'Store call latency.',
    labelNames: ['store', 'operation'],
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  })
  const storeErrors = new client.Counter({
    name: `${prefix}store_errors_total`,
    help: 'Store failures.',
    labelNames: ['store'],
    registers,
  })
  const nearLimit = new client.Counter({
    name: `${prefix}near_limit_total`,
    help: `Admitted decisions that left a rule with less than ${nearShare * 100}% of its limit.`,
    labelNames: ['rule'],
    registers,
  })
  const sources: { queueDepth(): Record<Priority, number> }[] = []
  new client.Gauge({
    name: `${prefix}queue_depth`,
    help: 'Requests waiting for capacity, by priority.',
    labelNames: ['priority'],
    registers,
    collect() {
      const totals: Record<Priority, number> = { critical: 0, high: 0, normal: 0, low: 0 }
      for (const source of sources)
        for (const [priority, depth] of Object.entries(source.queueDepth()))
          totals[priority as Priority] += depth
      for (const [priority, depth] of Object.entries(totals)) this.set({ priority }, depth)
    },
  })

  const model = (decision: Decision) => decision.model ?? 'none'
  const events: LimiterEvents = {
    onDecision(decision) {
      const outcome = decision.wouldDeny ? 'would_deny' : decision.allowed ? 'allowed' : 'denied'
      decisions.inc({ outcome, reason: decision.reason, rule: decision.rule ?? 'none' })
      if (!decision.allowed || decision.wouldDeny) return
      const tokens = decision.estimate.inputTokens + decision.estimate.outputTokens
      if (decision.llm && tokens > 0) reserved.inc({ model: model(decision) }, tokens)
      for (const rule of decision.rules)
        if (rule.remaining < rule.limit * nearShare) nearLimit.inc({ rule: rule.name })
    },
    onCommit({ decision, usage, costMicroUsd }) {
      if (!usage || !decision.llm) return
      const actual = usage.inputTokens + usage.outputTokens
      committed.inc({ model: model(decision) }, actual)
      const estimated = decision.estimate.inputTokens + decision.estimate.outputTokens
      if (estimated > 0) accuracy.observe({ model: model(decision) }, actual / estimated)
      if (costMicroUsd > 0) cost.inc({ model: usage.model ?? model(decision) }, costMicroUsd)
    },
    onStoreError(_error, store) {
      storeErrors.inc({ store: store.name })
    },
  }

  return {
    events,
    registry,
    contentType: registry.contentType,
    metrics: () => registry.metrics(),
    watchQueue(source) {
      sources.push(source)
    },
    instrument<S extends Store>(store: S): S {
      return timedStore(store, (operation, seconds) =>
        latency.observe({ store: store.name, operation }, seconds),
      )
    },
  }
}

/** Combines several event hooks into one, calling each in order. */
export function mergeEvents(...list: (LimiterEvents | undefined)[]): LimiterEvents {
  const present = list.filter((events): events is LimiterEvents => events !== undefined)
  return {
    onDecision(decision) {
      for (const events of present) events.onDecision?.(decision)
    },
    onDeny(decision) {
      for (const events of present) events.onDeny?.(decision)
    },
    onCommit(event) {
      for (const events of present) events.onCommit?.(event)
    },
    onStoreError(error, store) {
      for (const events of present) events.onStoreError?.(error, store)
    },
  }
}
