import { memoryStore, prometheusMetrics, type Store } from '@llm-limit/core'
import { llmLimit, metricsHandler } from '@llm-limit/express'
import express from 'express'
import * as client from 'prom-client'
import request from 'supertest'
import { describe, expect, it } from 'vitest'

function value(scrape: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([key, val]) => `${key}="${val}"`)
  let total = 0
  let found = false
  for (const line of scrape.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (wanted.every((pair) => line.includes(pair))) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1))
      found = true
    }
  }
  if (!found) throw new Error(`metric ${name} ${JSON.stringify(labels)} not in scrape:\n${scrape}`)
  return total
}

describe('Prometheus metrics', () => {
  it('reports every metric with the values a scripted run implies', async () => {
    const metrics = prometheusMetrics({ client })
    let failing = false
    const memory = memoryStore()
    const flaky: Store = {
      name: 'flaky',
      consume: (checks, context) =>
        failing ? Promise.reject(new Error('down')) : memory.consume(checks, context),
      adjust: (adjustments, context) => memory.adjust(adjustments, context),
    }
    const middleware = llmLimit({
      store: metrics.instrument(flaky),
      events: metrics.events,
      onStoreError: 'fail-closed',
      rules: [
        { name: 'rpm', requests: 4, per: '1m' },
        { name: 'tpm', tokens: 10_000, per: '1m' },
      ],
      queue: { maxWaitMs: 50 },
    })
    metrics.watchQueue(middleware.limiter)
    const app = express()
    app.get('/metrics', metricsHandler(metrics))
    app.use(express.json())
    app.use(middleware)
    app.post('/v1/chat/completions', (req, res) => {
      res.json({
        id: 'c',
        object: 'chat.completion',
        model: req.body.model,
        choices: [],
        usage: { prompt_tokens: 30, completion_tokens: 20, total_tokens: 50 },
      })
    })
    const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Count me.' }], max_tokens: 100 }
    for (let i = 0; i < 3; i++) await request(app).post('/v1/chat/completions').send(chat).expect(200)
    await request(app).get('/ping').expect(404) // the fourth request: allowed
    await request(app).get('/ping').expect(429) // denied by rpm
    failing = true
    await request(app).get('/ping').expect(503) // store error, fail-closed
    failing = false

    const scrape = (await request(app).get('/metrics').expect(200)).text
    expect(value(scrape, 'llm_limit_decisions_total', { outcome: 'allowed' })).toBe(4)
    expect(
      value(scrape, 'llm_limit_decisions_total', { outcome: 'denied', reason: 'requests', rule: 'rpm' }),
    ).toBe(1)
    expect(value(scrape, 'llm_limit_decisions_total', { outcome: 'denied', reason: 'store_error' })).toBe(1)
    const reserved = value(scrape, 'llm_limit_tokens_reserved_total', { model: 'gpt-4o-mini' })
    expect(reserved).toBeGreaterThan(3 * 100)
    expect(value(scrape, 'llm_limit_tokens_committed_total', { model: 'gpt-4o-mini' })).toBe(150)
    expect(value(scrape, 'llm_limit_token_estimate_ratio_count', { model: 'gpt-4o-mini' })).toBe(3)
    expect(value(scrape, 'llm_limit_token_estimate_ratio_sum', { model: 'gpt-4o-mini' })).toBeCloseTo(
      (3 * 50 * 3) / reserved,
      5,
    )
    // gpt-4o-mini: $0.15 per 1M input, $0.60 per 1M output → 30 × 0.15 + 20 × 0.6 = 16.5 → 17 micro-USD each.
    expect(value(scrape, 'llm_limit_cost_micro_usd_total', { model: 'gpt-4o-mini' })).toBe(3 * 17)
    expect(
      value(scrape, 'llm_limit_store_latency_seconds_count', { store: 'flaky', operation: 'consume' }),
    ).toBe(6)
    expect(value(scrape, 'llm_limit_store_errors_total', { store: 'flaky' })).toBe(1)
    // Only the fourth request left rpm under 20% of 4 (at 0); the third left 1, which is 25%.
    expect(value(scrape, 'llm_limit_near_limit_total', { rule: 'rpm' })).toBe(1)
    expect(value(scrape, 'llm_limit_queue_depth', { priority: 'normal' })).toBe(0)
  })

  it('shows a waiting request in the queue depth of its priority while it waits', async () => {
    const metrics = prometheusMetrics({ client, prefix: 'queued_' })
    const middleware = llmLimit({
      rules: [{ name: 'one-per-250ms', requests: 1, per: '250ms' }],
      plans: { pro: { rules: [], priority: 'high' } },
      plan: () => 'pro',
      queue: { maxWaitMs: 1000 },
    })
    metrics.watchQueue(middleware.limiter)
    const app = express()
    app.get('/metrics', metricsHandler(metrics))
    app.use(middleware)
    app.get('/work', (_req, res) => {
      res.send('done')
    })
    await request(app).get('/work').expect(200)
    const waiting = request(app)
      .get('/work')
      .then((response) => response.status)
    // The second request is admitted only once the bucket refills; until then it sits in the queue.
    let depth = 0
    for (let i = 0; i < 50 && depth === 0; i++) {
      const scrape = (await request(app).get('/metrics')).text
      depth = value(scrape, 'queued_queue_depth', { priority: 'high' })
    }
    expect(depth).toBe(1)
    expect(await waiting).toBe(200)
    const after = (await request(app).get('/metrics')).text
    expect(value(after, 'queued_queue_depth', { priority: 'high' })).toBe(0)
  })
})
