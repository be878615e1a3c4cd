import { upstreamGuard } from '@llm-limit/client'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

type Flavour = 'openai' | 'anthropic' | 'azure'

const LIMIT = 10
const WINDOW_MS = 2000

/**
 * A provider allowing 10 requests per fixed 2 s window (and 100,000 tokens), answering after
 * 1–150 ms each way, with the rate-limit headers of one provider; its resets are the true ones.
 */
function provider(flavour: Flavour) {
  const t0 = Date.now()
  const counts = new Map<number, number>()
  const tokens = new Map<number, number>()
  const stats = { sent: 0, ok: 0, limited: 0 }
  const fetch = async (_input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    // Uneven latencies each way, so answers come back out of order.
    await new Promise((resolve) => setTimeout(resolve, 1 + ((stats.sent * 7919) % 97)))
    const at = Date.now()
    const window = Math.floor((at - t0) / WINDOW_MS)
    const resetAt = t0 + (window + 1) * WINDOW_MS
    const used = counts.get(window) ?? 0
    const cost = JSON.parse(String(init?.body ?? '{}')).tokens ?? 0
    stats.sent++
    let response: Response
    if (used >= LIMIT) {
      stats.limited++
      const wait = resetAt - at
      response = new Response(JSON.stringify({ error: { message: 'Rate limit reached' } }), {
        status: 429,
        headers: {
          'content-type': 'application/json',
          'retry-after': String(Math.ceil(wait / 1000)),
          'retry-after-ms': String(wait),
        },
      })
    } else {
      counts.set(window, used + 1)
      const spent = (tokens.get(window) ?? 0) + cost
      tokens.set(window, spent)
      stats.ok++
      response = new Response(
        JSON.stringify({ id: 'x', usage: { prompt_tokens: cost, completion_tokens: 0, total_tokens: cost } }),
        {
          status: 200,
          headers: {
            'content-type': 'application/json',
            ...headers(flavour, used + 1, spent, resetAt - at, resetAt),
          },
        },
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 1 + ((stats.sent * 104729) % 151)))
    return response
  }
  return { fetch, stats }
}

function headers(
  flavour: Flavour,
  used: number,
  spentTokens: number,
  resetMs: number,
  resetAt: number,
): Record<string, string> {
  const remaining = String(LIMIT - used)
  const remainingTokens = String(100_000 - spentTokens)
  if (flavour === 'openai')
    return {
      'x-ratelimit-limit-requests': String(LIMIT),
      'x-ratelimit-remaining-requests': remaining,
      'x-ratelimit-reset-requests': `${resetMs}ms`,
      'x-ratelimit-limit-tokens': '100000',
      'x-ratelimit-remaining-tokens': remainingTokens,
      'x-ratelimit-reset-tokens': `${(resetMs / 1000).toFixed(3)}s`,
    }
  if (flavour === 'anthropic') {
    const iso = new Date(resetAt).toISOString()
    return {
      'anthropic-ratelimit-requests-limit': String(LIMIT),
      'anthropic-ratelimit-requests-remaining': remaining,
      'anthropic-ratelimit-requests-reset': iso,
      'anthropic-ratelimit-input-tokens-limit': '100000',
      'anthropic-ratelimit-input-tokens-remaining': remainingTokens,
      'anthropic-ratelimit-input-tokens-reset': iso,
    }
  }
  // Azure OpenAI: only what remains, no limit and no reset.
  return { 'x-ratelimit-remaining-requests': remaining, 'x-ratelimit-remaining-tokens': remainingTokens }
}

describe('upstreamGuard paces 50 callers by the provider’s own headers', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    vi.setSystemTime(Date.UTC(2026, 0, 1, 12))
  })
  afterEach(() => vi.useRealTimers())

  it.each<[Flavour, { windowMs?: number }]>([
    ['openai', {}],
    ['anthropic', {}],
    // Azure tells no reset: the guard is told the provider's window.
    ['azure', { windowMs: WINDOW_MS }],
  ])(
    '%s headers, 10 requests per 2 s, 6 s of load: zero 429s and at least 25 completed',
    async (flavour, options) => {
      const upstream = provider(flavour)
      const guard = upstreamGuard(options)
      const fetch = guard.fetch(
        upstream.fetch as typeof globalThis.fetch,
        (_input, init) => JSON.parse(String(init?.body)).tokens,
      )
      const t0 = Date.now()
      const end = t0 + 6000
      let completedIn6s = 0
      const callers = Array.from({ length: 50 }, async (_, id) => {
        while (Date.now() < end) {
          const response = await fetch('https://api.test/v1/chat/completions', {
            method: 'POST',
            body: JSON.stringify({ tokens: 100 + id }),
          })
          if (response.status === 200 && Date.now() <= end) completedIn6s++
        }
      })
      await vi.advanceTimersByTimeAsync(6000)
      expect(upstream.stats.limited).toBe(0)
      expect(completedIn6s).toBeGreaterThanOrEqual(25)
      // The ones still waiting finish in later windows, still without a 429.
      await vi.advanceTimersByTimeAsync(20_000)
      await Promise.all(callers)
      expect(upstream.stats.limited).toBe(0)
      expect(upstream.stats.ok).toBeGreaterThanOrEqual(50)
    },
  )

  it('negative control: the same 50 callers without the guard get 429s', async () => {
    const upstream = provider('openai')
    const end = Date.now() + 6000
    const callers = Array.from({ length: 50 }, async () => {
      while (Date.now() < end) {
        const response = await upstream.fetch('https://api.test/v1', { method: 'POST', body: '{}' })
        if (response.status === 429) await new Promise((resolve) => setTimeout(resolve, 500))
      }
    })
    await vi.advanceTimersByTimeAsync(7000)
    await Promise.all(callers)
    expect(upstream.stats.limited).toBeGreaterThan(0)
  })

  it("Groq's daily request quota spent: the next call fails fast with the reset time, and nothing is sent", async () => {
    let sent = 0
    const groq = async () => {
      sent++
      return new Response('{}', {
        headers: {
          'x-ratelimit-limit-requests': '14400',
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': '2m59.56s',
          'x-ratelimit-limit-tokens': '6000',
          'x-ratelimit-remaining-tokens': '5900',
          'x-ratelimit-reset-tokens': '1s',
        },
      })
    }
    const guard = upstreamGuard()
    await guard.run(100, groq)
    const answeredAt = Date.now()
    const error = await guard.run(100, groq).catch((caught) => caught)
    expect(sent).toBe(1)
    expect(error).toMatchObject({
      name: 'LlmLimitError',
      code: 'ERR_UPSTREAM_QUOTA',
      quota: 'requests',
      resetAt: answeredAt + 179_560,
      retryAfterMs: 179_560,
    })
    expect(error.message).toContain(new Date(answeredAt + 179_560).toISOString())
    // Many callers at once: every one fails fast, none is sent, no timer is left waiting.
    const all = await Promise.allSettled(Array.from({ length: 20 }, () => guard.run(1, groq)))
    expect(all.every((result) => result.status === 'rejected')).toBe(true)
    expect(sent).toBe(1)
    // With a longer maxWaitMs the same wait is honoured: the call goes at the reset, not before.
    const patient = upstreamGuard({ maxWaitMs: 200_000 })
    await patient.run(1, groq)
    const pending = patient.run(1, groq)
    await vi.advanceTimersByTimeAsync(179_559)
    expect(sent).toBe(2)
    await vi.advanceTimersByTimeAsync(1)
    await pending
    expect(sent).toBe(3)
  })
})
