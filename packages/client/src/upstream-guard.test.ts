import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { upstreamGuard } from './upstream-guard.js'

/** A provider with a continuously refilled 10,000 tokens-per-minute bucket, as OpenAI's works. */
function provider(tokensPerMinute: number) {
  let level = tokensPerMinute
  let last = Date.now()
  let used = 0
  let rejected = 0
  return {
    stats: () => ({ used, rejected }),
    call(tokens: number): Response {
      const now = Date.now()
      level = Math.min(tokensPerMinute, level + ((now - last) * tokensPerMinute) / 60_000)
      last = now
      if (level + 1e-9 < tokens) {
        rejected++
        return new Response('{}', { status: 429, headers: { 'retry-after': '1' } })
      }
      level -= tokens
      used += tokens
      return new Response('{}', {
        status: 200,
        headers: {
          'x-ratelimit-limit-tokens': String(tokensPerMinute),
          'x-ratelimit-remaining-tokens': String(Math.floor(level)),
        },
      })
    },
  }
}

describe('upstreamGuard', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    vi.setSystemTime(Date.UTC(2026, 0, 1))
  })
  afterEach(() => vi.useRealTimers())

  it('under a 5× overload from 50 callers: zero 429s and at least 90% of capacity used', async () => {
    const upstream = provider(10_000)
    const guard = upstreamGuard({ tokensPerMinute: 10_000 })
    const minutes = 5
    const end = Date.now() + minutes * 60_000
    // 50 callers, each wanting 1,000 tokens per minute: 50,000 per minute against 10,000.
    const callers = Array.from({ length: 50 }, async (_, id) => {
      while (Date.now() < end) {
        const tokens = 150 + ((id * 37) % 100)
        await guard.run(tokens, async () => upstream.call(tokens))
        await new Promise((resolve) => setTimeout(resolve, 6_000 - tokens))
      }
    })
    await vi.advanceTimersByTimeAsync(minutes * 60_000 + 60_000)
    await Promise.all(callers)
    const { used, rejected } = upstream.stats()
    expect(rejected).toBe(0)
    // Capacity over the run: the initial bucket plus the refill.
    expect(used / (10_000 + 10_000 * minutes)).toBeGreaterThanOrEqual(0.9)
  })

  it('negative control: the same load without the guard hits 429s', async () => {
    const upstream = provider(10_000)
    const end = Date.now() + 60_000
    const callers = Array.from({ length: 50 }, async () => {
      while (Date.now() < end) {
        upstream.call(200)
        await new Promise((resolve) => setTimeout(resolve, 1000))
      }
    })
    await vi.advanceTimersByTimeAsync(61_000)
    await Promise.all(callers)
    expect(upstream.stats().rejected).toBeGreaterThan(0)
  })

  it('learns the limit and the remaining budget from response headers', async () => {
    const guard = upstreamGuard()
    await guard.run(
      10,
      async () =>
        new Response('{}', {
          headers: { 'x-ratelimit-limit-tokens': '6000', 'x-ratelimit-remaining-tokens': '0' },
        }),
    )
    expect(guard.limits.tokensPerMinute).toBe(6000)
    let ran = false
    void guard.run(100, async () => {
      ran = true
      return new Response('{}')
    })
    await vi.advanceTimersByTimeAsync(500)
    expect(ran).toBe(false)
    await vi.advanceTimersByTimeAsync(61_000)
    expect(ran).toBe(true)
  })
})
