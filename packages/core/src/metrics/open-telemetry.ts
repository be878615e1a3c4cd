import type { Meter } from '@opentelemetry/api'
import type { Decision } from '../engine/decision.js'
import type { LimiterEvents, Priority } from '../engine/options.js'
import type { Store } from '../store/store.js'
import { timedStore } from './timed-store.js'

/** Options of `openTelemetryMetrics()`. */
export interface OpenTelemetryOptions {
  /** Share of a rule's limit left below which a decision counts as near the limit. @default 0.2 */
  nearLimitShare?: number
}

/** llm-limit's instruments on an OpenTelemetry meter. */
export interface OpenTelemetryMetrics {
  /** Pass as `events` (or merge with yours using `mergeEvents`). */
  readonly events: LimiterEvents
  /** Wraps a store so its latency is measured. */
  instrument<S extends Store>(store: S): S
  /** Reports the queue depth of a limiter (its `queueDepth()`). */
  watchQueue(source: { queueDepth(): Record<Priority, number> }): void
}

/**
 * OpenTelemetry metrics for llm-limit, the same counts as `prometheusMetrics()`: tokens under the
 * GenAI semantic conventions' `gen_ai.client.token.usage` (attributes `gen_ai.token.type`,
 * `gen_ai.request.model`), everything else as `llm_limit.*`.
 * @example
 * import { metrics } from '@opentelemetry/api'
 * const telemetry = openTelemetryMetrics(metrics.getMeter('llm-limit'))
 * app.use(llmLimit({ store: telemetry.instrument(memoryStore()), events: telemetry.events }))
 */
export function openTelemetryMetrics(meter: Meter, options: OpenTelemetryOptions = {}): OpenTelemetryMetrics {
  const nearShare = options.nearLimitShare ?? 0.2
  const decisions = meter.createCounter('llm_limit.decisions', {
    description: 'Decisions by outcome, reason and deciding rule.',
    unit: '{decision}',
  })
  const reserved = meter.createCounter('llm_limit.tokens.reserved', {
    description: 'Tokens reserved by admitted requests (estimates).',
    unit: '{token}',
  })
  const usage = meter.createHistogram('gen_ai.client.token.usage', {
    description: 'Tokens used per call, as reconciled with the provider’s usage.',
    unit: '{token}',
    advice: {
      explicitBucketBoundaries: [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304],
    },
  })
  const accuracy = meter.createHistogram('llm_limit.token_estimate.ratio', {
    description: 'Actual tokens divided by estimated tokens per request.',
    unit: '1',
    advice: { explicitBucketBoundaries: [0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 4] },
  })
  const cost = meter.createCounter('llm_limit.cost', {
    description: 'Actual cost in micro-USD.',
    unit: '{micro_usd}',
  })
  const latency = meter.createHistogram('llm_limit.store.duration', {
    description: 'Store call latency.',
    unit: 's',
    advice: {
      explicitBucketBoundaries: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    },
  })
  const storeErrors = meter.createCounter('llm_limit.store.errors', {
    description: 'Store failures.',
    unit: '{error}',
  })
  const nearLimit = meter.createCounter('llm_limit.near_limit', {
    description: `Admitted decisions that left a rule with less than ${nearShare * 100}% of its limit.`,
    unit: '{decision}',
  })
  const sources: { queueDepth(): Record<Priority, number> }[] = []
  meter
    .createObservableGauge('llm_limit.queue.depth', {
      description: 'Requests waiting for capacity, by priority.',
      unit: '{request}',
    })
    .addCallback((result) => {
      const totals: Record<Priority, number> = { critical: 0, high: 0, normal: 0, low: 0 }
      for (const source of sources)
        for (const [priority, depth] of Object.entries(source.queueDepth()))
          totals[priority as Priority] += depth
      for (const [priority, depth] of Object.entries(totals))
        result.observe(depth, { 'llm_limit.priority': priority })
    })

  const model = (decision: Decision) => decision.model ?? 'none'
  const events: LimiterEvents = {
    onDecision(decision) {
      const outcome = decision.wouldDeny ? 'would_deny' : decision.allowed ? 'allowed' : 'denied'
      decisions.add(1, {
        'llm_limit.outcome': outcome,
        'llm_limit.reason': decision.reason,
        'llm_limit.rule': decision.rule ?? 'none',
      })
      if (!decision.allowed || decision.wouldDeny) return
      const tokens = decision.estimate.inputTokens + decision.estimate.outputTokens
      if (decision.llm && tokens > 0) reserved.add(tokens, { 'gen_ai.request.model': model(decision) })
      for (const rule of decision.rules)
        if (rule.remaining < rule.limit * nearShare) nearLimit.add(1, { 'llm_limit.rule': rule.name })
    },
    onCommit({ decision, usage: used, costMicroUsd }) {
      if (!used || !decision.llm) return
      const attributes = {
        'gen_ai.request.model': model(decision),
        'gen_ai.response.model': used.model ?? model(decision),
      }
      usage.record(used.inputTokens, { ...attributes, 'gen_ai.token.type': 'input' })
      usage.record(used.outputTokens, { ...attributes, 'gen_ai.token.type': 'output' })
      const estimated = decision.estimate.inputTokens + decision.estimate.outputTokens
      if (estimated > 0)
        accuracy.record((used.inputTokens + used.outputTokens) / estimated, {
          'gen_ai.request.model': model(decision),
        })
      if (costMicroUsd > 0) cost.add(costMicroUsd, { 'gen_ai.request.model': used.model ?? model(decision) })
    },
    onStoreError(_error, store) {
      storeErrors.add(1, { 'llm_limit.store': store.name })
    },
  }

  return {
    events,
    watchQueue(source) {
      sources.push(source)
    },
    instrument<S extends Store>(store: S): S {
      return timedStore(store, (operation, seconds) =>
        latency.record(seconds, { 'llm_limit.store': store.name, 'llm_limit.operation': operation }),
      )
    },
  }
}
