import {
  createLimiter,
  type Decision,
  type LimiterOptions,
  type LimitRequest,
  memoryStore,
  parseLlmRequest,
  type Rule,
  trackResponse,
} from '@llm-limit/core'
import { describe, expect, it } from 'vitest'

const START = Date.UTC(2026, 5, 10, 12, 0, 0)

function fixture(rules: Rule[], extra: Partial<LimiterOptions> = {}) {
  const clock = { now: START }
  const limiter = createLimiter({ store: memoryStore({ now: () => clock.now }), rules, ...extra })
  return { clock, limiter }
}

const chatRequest = (maxTokens: number, content = 'Estimate me, please.'): LimitRequest => ({
  method: 'POST',
  path: '/v1/chat/completions',
  headers: {},
  ip: '198.51.100.1',
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: maxTokens },
})

/** A chat request whose estimate is exactly `total` tokens (input measured, output fills the rest). */
function requestOf(limiter: ReturnType<typeof createLimiter>, total: number): LimitRequest {
  const probe = chatRequest(1)
  const parsed = parseLlmRequest(probe.body, probe.path)
  if (!parsed || 'invalid' in parsed) throw new Error('fixture is not an LLM request')
  const input = limiter.estimator.estimate(parsed).inputTokens
  return chatRequest(total - input)
}

/** The same request, streamed. */
const streaming = (request: LimitRequest): LimitRequest => ({
  ...request,
  body: { ...(request.body as object), stream: true },
})

const remaining = async (limiter: ReturnType<typeof createLimiter>, name: string) =>
  (await limiter.check({ method: 'GET', path: '/peek', headers: {}, ip: '198.51.100.1' })).rules.find(
    (rule) => rule.name === name,
  )?.remaining

describe('reserve, then reconcile', () => {
  it('1,000 concurrent requests of 1,000 tokens against 50,000 admit exactly 50; reporting 500 each admits exactly 50 more', async () => {
    const { limiter } = fixture([{ name: 'tpm', tokens: 50_000, per: '1h', algorithm: 'fixed-window' }])
    const first = await Promise.all(
      Array.from({ length: 1000 }, () => limiter.check(requestOf(limiter, 1000))),
    )
    const admitted = first.filter((decision) => decision.allowed)
    expect(admitted).toHaveLength(50)
    expect(admitted[0].estimate.inputTokens + admitted[0].estimate.outputTokens).toBe(1000)
    // Each call actually used 500: 25,000 tokens come back, in the same window.
    await Promise.all(admitted.map((decision) => decision.commit({ inputTokens: 100, outputTokens: 400 })))
    expect(await remaining(limiter, 'tpm')).toBe(25_000)
    const second = await Promise.all(
      Array.from({ length: 1000 }, () => limiter.check(requestOf(limiter, 500))),
    )
    expect(second.filter((decision) => decision.allowed)).toHaveLength(50)
    expect(await remaining(limiter, 'tpm')).toBe(0)
  })

  it('negative control: without reconciling, the same load admits nothing more', async () => {
    const { limiter } = fixture([{ name: 'tpm', tokens: 50_000, per: '1h', algorithm: 'fixed-window' }])
    const request = requestOf(limiter, 1000)
    const first = await Promise.all(Array.from({ length: 1000 }, () => limiter.check(request)))
    expect(first.filter((decision) => decision.allowed)).toHaveLength(50)
    // Nothing is committed, so the estimates stand and not even 500-token requests fit.
    const second = await Promise.all(
      Array.from({ length: 1000 }, () => limiter.check(requestOf(limiter, 500))),
    )
    expect(second.filter((decision) => decision.allowed)).toHaveLength(0)
  })

  it('commit and release are idempotent', async () => {
    const { limiter } = fixture([{ name: 'tpm', tokens: 10_000, per: '1h', algorithm: 'fixed-window' }])
    const decision = await limiter.check(requestOf(limiter, 1000))
    await decision.commit({ inputTokens: 100, outputTokens: 100 })
    await decision.commit({ inputTokens: 1, outputTokens: 1 })
    await decision.release()
    expect(await remaining(limiter, 'tpm')).toBe(9800)
  })

  it('rejects absurd usage with a clear error', async () => {
    const { limiter } = fixture([{ name: 'tpm', tokens: 10_000, per: '1h' }])
    const decision = await limiter.check(requestOf(limiter, 100))
    await expect(decision.commit({ inputTokens: -5 })).rejects.toThrow(/inputTokens.*whole number/)
    await expect(decision.commit({ outputTokens: Number.NaN })).rejects.toThrow(/outputTokens/)
  })
})

describe('responses settle reservations and leases exactly once', () => {
  const sse = (events: object[]) =>
    `${events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('')}data: [DONE]\n\n`

  it('an SSE stream with a final usage event commits the actual usage', async () => {
    const { limiter } = fixture([{ name: 'tpm', tokens: 10_000, per: '1h', algorithm: 'fixed-window' }])
    const decision = await limiter.check(requestOf(limiter, 1000))
    const tracker = trackResponse(decision, limiter)!
    tracker.headers(200, 'text/event-stream')
    const body = sse([
      { choices: [{ delta: { content: 'Hi' } }] },
      { choices: [], usage: { prompt_tokens: 40, completion_tokens: 2, total_tokens: 42 } },
    ])
    // Split anywhere: usage must survive chunk boundaries.
    for (let i = 0; i < body.length; i += 7) tracker.chunk(body.slice(i, i + 7))
    tracker.finish()
    await Promise.resolve()
    expect(await remaining(limiter, 'tpm')).toBe(10_000 - 42)
  })

  it('a stream aborted halfway charges its input and what streamed', async () => {
    const { limiter } = fixture([{ name: 'tpm', tokens: 10_000, per: '1h', algorithm: 'fixed-window' }])
    const decision = await limiter.check(streaming(requestOf(limiter, 1000)))
    const tracker = trackResponse(decision, limiter)!
    tracker.headers(200, 'text/event-stream')
    tracker.chunk(
      sse([{ choices: [{ delta: { content: 'one two three four five' } }] }]).replace('data: [DONE]\n\n', ''),
    )
    tracker.abort()
    await Promise.resolve()
    const streamed = limiter.estimator.countText('one two three four five', 'gpt-4o-mini')
    const left = await remaining(limiter, 'tpm')
    expect(left).toBe(10_000 - decision.estimate.inputTokens - streamed)
  })

  it('after 10,000 mixed requests no reservation or lease is left behind', async () => {
    const { limiter } = fixture([
      { name: 'tpm', tokens: 1e9, per: '1h', algorithm: 'fixed-window' },
      { name: 'par', concurrent: 128 },
    ])
    const request = streaming(requestOf(limiter, 200))
    let expected = 0
    let random = 42
    const next = () => {
      random = (random * 1_103_515_245 + 12_345) % 2 ** 31
      return random / 2 ** 31
    }
    for (let batch = 0; batch < 100; batch++) {
      const decisions: Decision[] = await Promise.all(
        Array.from({ length: 100 }, () => limiter.check(request)),
      )
      for (const decision of decisions) {
        expect(decision.allowed).toBe(true)
        const tracker = trackResponse(decision, limiter)!
        const kind = Math.floor(next() * 5)
        if (kind === 0) {
          tracker.headers(200, 'application/json')
          tracker.chunk(JSON.stringify({ usage: { prompt_tokens: 10, completion_tokens: 5 } }))
          tracker.finish()
          expected += 15
        } else if (kind === 1) {
          tracker.headers(500, 'application/json')
          tracker.finish()
        } else if (kind === 2) {
          tracker.headers(200, 'text/event-stream')
          tracker.chunk(sse([{ choices: [], usage: { prompt_tokens: 7, completion_tokens: 3 } }]))
          tracker.finish()
          expected += 10
        } else if (kind === 3) {
          // A client gone before any output: the prompt reached the provider, so its input is charged.
          tracker.abort()
          expected += decision.estimate.inputTokens
        } else {
          await decision.commit({ inputTokens: 1, outputTokens: 1 })
          tracker.finish()
          expected += 2
        }
        // A second signal must never settle twice.
        tracker.abort()
        tracker.finish()
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
    const peek = await limiter.check({ method: 'GET', path: '/peek', headers: {}, ip: '198.51.100.1' })
    // The peek itself holds one lease.
    expect(peek.rules.find((rule) => rule.name === 'par')?.remaining).toBe(127)
    expect(1e9 - (peek.rules.find((rule) => rule.name === 'tpm')?.remaining ?? 0)).toBe(expected)
  })
})

describe('what each ending charges (the table in docs/rules.md)', () => {
  const sse = (...events: (object | string)[]) =>
    events.map((event) => `data: ${typeof event === 'string' ? event : JSON.stringify(event)}\n\n`).join('')
  const words = ' one two three'
  type Ending = (tracker: NonNullable<ReturnType<typeof trackResponse>>) => void
  const endings: [string, boolean, Ending, (input: number, streamed: number, reserved: number) => number][] =
    [
      [
        'success with usage',
        true,
        (t) => {
          t.headers(200, 'text/event-stream')
          t.chunk(
            sse(
              { choices: [{ delta: { content: words } }] },
              { choices: [], usage: { prompt_tokens: 40, completion_tokens: 3 } },
              '[DONE]',
            ),
          )
          t.finish()
        },
        () => 43,
      ],
      [
        'success without usage',
        true,
        (t) => {
          t.headers(200, 'text/event-stream')
          t.chunk(sse({ choices: [{ delta: { content: words } }] }, '[DONE]'))
          t.finish()
        },
        (_input, _streamed, reserved) => reserved,
      ],
      [
        'upstream error status without usage',
        true,
        (t) => {
          t.headers(429, 'application/json')
          t.chunk('{"error":{"message":"slow down"}}')
          t.finish()
        },
        () => 0,
      ],
      ['client abort before any output', true, (t) => t.abort(), (input) => input],
      [
        'client abort after output',
        true,
        (t) => {
          t.headers(200, 'text/event-stream')
          t.chunk(sse({ choices: [{ delta: { content: words } }] }))
          t.abort()
        },
        (input, streamed) => input + streamed,
      ],
      [
        'stream cut by the upstream (ended without its closing event)',
        true,
        (t) => {
          t.headers(200, 'text/event-stream')
          t.chunk(sse({ choices: [{ delta: { content: words } }] }))
          t.finish()
        },
        (input, streamed) => input + streamed,
      ],
      [
        'handler failure (an HTML 500 from the framework)',
        true,
        (t) => {
          t.headers(500, 'text/html; charset=utf-8')
          t.chunk('<pre>Internal Server Error</pre>')
          t.finish()
        },
        (input) => input,
      ],
      [
        'Responses response.incomplete',
        true,
        (t) => {
          t.headers(200, 'text/event-stream')
          t.chunk(
            sse({ type: 'response.incomplete', response: { usage: { input_tokens: 40, output_tokens: 7 } } }),
          )
          t.finish()
        },
        () => 47,
      ],
      [
        'Responses response.failed',
        true,
        (t) => {
          t.headers(200, 'text/event-stream')
          t.chunk(
            sse({ type: 'response.failed', response: { usage: { input_tokens: 40, output_tokens: 0 } } }),
          )
          t.finish()
        },
        () => 40,
      ],
      ['a non-streamed call cut short', false, (t) => t.abort(), (_input, _streamed, reserved) => reserved],
    ]

  it.each(endings)('%s', async (_name, stream, end, charged) => {
    const { limiter } = fixture([{ name: 'tpm', tokens: 10_000, per: '1h', algorithm: 'fixed-window' }])
    const request = requestOf(limiter, 200)
    ;(request.body as Record<string, unknown>).stream = stream
    const decision = await limiter.check(request)
    end(trackResponse(decision, limiter)!)
    await Promise.resolve()
    const streamed = limiter.estimator.countText(words, 'gpt-4o-mini')
    expect(streamed).toBe(3)
    const { inputTokens, outputTokens } = decision.estimate
    expect(10_000 - ((await remaining(limiter, 'tpm')) ?? 0)).toBe(
      charged(inputTokens, streamed, inputTokens + outputTokens),
    )
  })
})

describe('dollars', () => {
  it('1,000,000 commits of $0.000123 add up to exactly $123', async () => {
    const { limiter } = fixture([
      { name: 'usd-month', costUsd: 1000, per: 'month' },
      { name: 'rpm', requests: 1e7, per: '1h' },
    ])
    const request = requestOf(limiter, 50)
    for (let i = 0; i < 1_000_000; i += 1000) {
      const decisions = await Promise.all(Array.from({ length: 1000 }, () => limiter.check(request)))
      await Promise.all(decisions.map((decision) => decision.commit({ costMicroUsd: 123 })))
    }
    expect(await remaining(limiter, 'usd-month')).toBe(1000 - 123)
  }, 120_000)

  it.each([
    ['day', Date.UTC(2026, 2, 14, 23, 59, 59, 999), Date.UTC(2026, 2, 15)],
    ['month', Date.UTC(2026, 0, 31, 23, 59, 59, 999), Date.UTC(2026, 1, 1)],
    ['month', Date.UTC(2028, 1, 29, 23, 59, 59, 999), Date.UTC(2028, 2, 1)],
    ['month', Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1)],
  ] as const)(
    'a per %s budget resets exactly at the period boundary (UTC)',
    async (per, before, boundary) => {
      const { clock, limiter } = fixture([{ name: 'budget', costUsd: 0.01, per }])
      clock.now = before - 60_000
      const spend = await limiter.check(requestOf(limiter, 20))
      await spend.commit({ costMicroUsd: 10_000 })
      clock.now = before
      const denied = await limiter.check(requestOf(limiter, 20))
      expect(denied.allowed).toBe(false)
      expect(denied.retryable).toBe(false)
      expect(denied.retryAfterMs).toBe(boundary - before)
      clock.now = boundary
      expect((await limiter.check(requestOf(limiter, 20))).allowed).toBe(true)
    },
  )

  it('a leap day belongs to February', async () => {
    const { clock, limiter } = fixture([{ name: 'budget', costUsd: 0.01, per: 'month' }])
    clock.now = Date.UTC(2028, 1, 28, 12)
    await (await limiter.check(requestOf(limiter, 20))).commit({ costMicroUsd: 10_000 })
    clock.now = Date.UTC(2028, 1, 29, 12)
    expect((await limiter.check(requestOf(limiter, 20))).allowed).toBe(false)
  })
})

describe('concurrency leases', () => {
  it('with concurrent: 2 the third in-flight request is denied', async () => {
    const { limiter } = fixture([{ name: 'par', concurrent: 2 }])
    const request = requestOf(limiter, 50)
    const [a, b, c] = [
      await limiter.check(request),
      await limiter.check(request),
      await limiter.check(request),
    ]
    expect([a.allowed, b.allowed, c.allowed]).toEqual([true, true, false])
    expect(c.reason).toBe('concurrent')
    await a.release()
    expect((await limiter.check(request)).allowed).toBe(true)
  })

  it('after 10,000 random sequences of finish, abort and error zero leases remain', async () => {
    const { limiter } = fixture([{ name: 'par', concurrent: 8 }])
    const request = requestOf(limiter, 50)
    let seed = 7
    const random = () => {
      seed = (seed * 16_807) % 2_147_483_647
      return seed / 2_147_483_647
    }
    const inFlight: ReturnType<typeof trackResponse>[] = []
    let denied = 0
    for (let i = 0; i < 10_000; i++) {
      const decision = await limiter.check(request)
      if (!decision.allowed) denied++
      else inFlight.push(trackResponse(decision, limiter))
      // Finish, abort or fail a random in-flight call, sometimes twice.
      while (inFlight.length > 0 && random() < 0.6) {
        const index = Math.floor(random() * inFlight.length)
        const tracker = inFlight.splice(index, 1)[0]!
        const pick = random()
        if (pick < 0.4) {
          tracker.headers(200, 'application/json')
          tracker.finish()
        } else if (pick < 0.7) tracker.abort()
        else {
          tracker.headers(502, 'application/json')
          tracker.finish()
        }
        if (random() < 0.3) tracker.abort()
      }
      if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    for (const tracker of inFlight) tracker!.abort()
    await new Promise((resolve) => setImmediate(resolve))
    expect(denied).toBeGreaterThan(0)
    const peek = await limiter.check({ method: 'GET', path: '/peek', headers: {}, ip: '198.51.100.1' })
    // The peek itself holds one lease.
    expect(peek.rules.find((rule) => rule.name === 'par')?.remaining).toBe(7)
  })
})
