import type { Attributes } from '@opentelemetry/api'
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import * as client from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createLimiter } from '../engine/limiter.js'
import { memoryStore } from '../store/memory-store.js'
import type { Store } from '../store/store.js'
import { openTelemetryMetrics } from './open-telemetry.js'
import { mergeEvents, prometheusMetrics } from './prometheus.js'

/** Totals keyed by the chosen label values, joined with '|'. */
type Totals = Record<string, number>

function add(totals: Totals, key: string, value: number): void {
  totals[key] = (totals[key] ?? 0) + value
}

async function promTotals(
  registry: client.Registry,
  name: string,
  labels: string[],
  suffix = '',
): Promise<Totals> {
  const metric = registry.getSingleMetric(name)
  if (!metric) throw new Error(`no Prometheus metric ${name}`)
  const totals: Totals = {}
  for (const sample of (await metric.get()).values) {
    const sampleName = (sample as { metricName?: string }).metricName ?? name
    if (sampleName !== `${name}${suffix}`) continue
    add(totals, labels.map((label) => String(sample.labels[label])).join('|'), sample.value)
  }
  return totals
}

function otelTotals(
  points: Map<string, DataPoint<number | Histogram>[]>,
  name: string,
  attributes: string[],
  read: (value: number | Histogram) => number = (value) => value as number,
): Totals {
  const found = points.get(name)
  if (!found) throw new Error(`no OpenTelemetry metric ${name}`)
  const totals: Totals = {}
  for (const point of found) {
    const key = attributes.map((attribute) => String((point.attributes as Attributes)[attribute])).join('|')
    add(totals, key, read(point.value))
  }
  return totals
}

describe('openTelemetryMetrics', () => {
  it('reports the same counts as prometheusMetrics for the same 1,000 mixed requests', async () => {
    const prom = prometheusMetrics({ client })
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
    const provider = new MeterProvider({ readers: [reader] })
    const otel = openTelemetryMetrics(provider.getMeter('llm-limit-test'))

    let now = 1_800_000_000_000
    const memory = memoryStore({ now: () => now })
    let failing = false
    const flaky: Store = {
      name: 'flaky',
      consume: (checks, context) =>
        failing ? Promise.reject(new Error('down')) : memory.consume(checks, context),
      adjust: (adjustments, context) => memory.adjust(adjustments, context),
    }
    const limiter = createLimiter({
      store: prom.instrument(otel.instrument(flaky)),
      events: mergeEvents(prom.events, otel.events),
      onStoreError: 'fail-open',
      rules: [
        { name: 'ip-rpm', by: 'ip', requests: 30, per: '1m' },
        { name: 'mini-tpm', by: 'ip', tokens: 3_000, per: '1m', models: ['gpt-4o-mini'] },
        { name: 'claude-usd', by: 'ip', costUsd: 0.004, per: 'day', models: ['claude-3-5-haiku-latest'] },
      ],
    })
    const models = ['gpt-4o-mini', 'gpt-4o', 'claude-3-5-haiku-latest']
    for (let i = 0; i < 1000; i++) {
      now += 250
      // The store guard opens for a while after a failure, so the failures come last.
      failing = i >= 990
      const ip = `192.0.2.${i % 5}`
      const kind = i % 10
      const model = models[i % 3]
      const request =
        kind === 0
          ? { method: 'GET', path: '/v1/models', headers: {}, ip }
          : kind === 1
            ? { method: 'POST', path: '/v1/chat/completions', headers: {}, ip, body: { model: '' } }
            : {
                method: 'POST',
                path: '/v1/chat/completions',
                headers: {},
                ip,
                body: {
                  model,
                  messages: [{ role: 'user', content: `Question number ${i}: ${'why '.repeat(i % 40)}` }],
                  max_tokens: 100 + ((i * 37) % 700),
                },
              }
      const decision = await limiter.check(request)
      if (!decision.allowed) continue
      if (kind === 9) await decision.release()
      else
        await decision.commit({ inputTokens: decision.estimate.inputTokens + (i % 7), outputTokens: i % 60 })
    }
    await reader.forceFlush()
    const points = new Map<string, DataPoint<number | Histogram>[]>()
    for (const resource of exporter.getMetrics())
      for (const scope of resource.scopeMetrics)
        for (const metric of scope.metrics)
          points.set(metric.descriptor.name, metric.dataPoints as DataPoint<number | Histogram>[])
    const registry = prom.registry
    const count = (value: number | Histogram) => (value as Histogram).count
    const sum = (value: number | Histogram) => (value as Histogram).sum as number

    const decisions = await promTotals(registry, 'llm_limit_decisions_total', ['outcome', 'reason', 'rule'])
    expect(Object.values(decisions).reduce((a, b) => a + b, 0)).toBe(1000)
    // The mix exercises what it claims to: denials by several rules, invalid requests, store errors.
    expect(Object.keys(decisions).filter((key) => key.startsWith('denied|')).length).toBeGreaterThanOrEqual(3)
    expect(
      otelTotals(points, 'llm_limit.decisions', ['llm_limit.outcome', 'llm_limit.reason', 'llm_limit.rule']),
    ).toEqual(decisions)

    const reserved = await promTotals(registry, 'llm_limit_tokens_reserved_total', ['model'])
    expect(Object.keys(reserved).sort()).toEqual([...models].sort())
    expect(otelTotals(points, 'llm_limit.tokens.reserved', ['gen_ai.request.model'])).toEqual(reserved)

    const committed = await promTotals(registry, 'llm_limit_tokens_committed_total', ['model'])
    expect(otelTotals(points, 'gen_ai.client.token.usage', ['gen_ai.request.model'], sum)).toEqual(committed)
    const perCall = otelTotals(points, 'gen_ai.client.token.usage', ['gen_ai.token.type'], count)
    expect(perCall.input).toBe(perCall.output)

    const ratioCounts = await promTotals(registry, 'llm_limit_token_estimate_ratio', ['model'], '_count')
    expect(otelTotals(points, 'llm_limit.token_estimate.ratio', ['gen_ai.request.model'], count)).toEqual(
      ratioCounts,
    )
    expect(Object.values(ratioCounts).reduce((a, b) => a + b, 0)).toBe(perCall.input)

    const cost = await promTotals(registry, 'llm_limit_cost_micro_usd_total', ['model'])
    expect(Object.keys(cost).length).toBeGreaterThan(0)
    expect(otelTotals(points, 'llm_limit.cost', ['gen_ai.request.model'])).toEqual(cost)

    const near = await promTotals(registry, 'llm_limit_near_limit_total', ['rule'])
    expect(otelTotals(points, 'llm_limit.near_limit', ['llm_limit.rule'])).toEqual(near)

    const errors = await promTotals(registry, 'llm_limit_store_errors_total', ['store'])
    expect(errors.flaky).toBeGreaterThan(0)
    expect(otelTotals(points, 'llm_limit.store.errors', ['llm_limit.store'])).toEqual(errors)

    const calls = await promTotals(registry, 'llm_limit_store_latency_seconds', ['operation'], '_count')
    expect(otelTotals(points, 'llm_limit.store.duration', ['llm_limit.operation'], count)).toEqual(calls)

    otel.watchQueue({ queueDepth: () => ({ critical: 0, high: 1, normal: 2, low: 3 }) })
    await reader.forceFlush()
    const depth = exporter
      .getMetrics()
      .at(-1)
      ?.scopeMetrics.flatMap((scope) => scope.metrics)
      .find((metric) => metric.descriptor.name === 'llm_limit.queue.depth')
    expect(
      Object.fromEntries(
        (depth?.dataPoints ?? []).map((point) => [point.attributes['llm_limit.priority'], point.value]),
      ),
    ).toEqual({ critical: 0, high: 1, normal: 2, low: 3 })
    await provider.shutdown()
  })
})
