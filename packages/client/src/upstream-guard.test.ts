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

  it('learns a quota from headers; with no reset told, waits the fallback window', async () => {
    const guard = upstreamGuard({ windowMs: 60_000 })
    await guard.run(
      10,
      async () =>
        new Response('{}', {
          headers: { 'x-ratelimit-limit-tokens': '6000', 'x-ratelimit-remaining-tokens': '0' },
        }),
    )
    expect(guard.quotas()).toEqual([
      { name: 'tokens', unit: 'tokens', limit: 6000, available: 0, resetAt: undefined },
    ])
    let ran = false
    void guard.run(100, async () => {
      ran = true
      return new Response('{}')
    })
    await vi.advanceTimersByTimeAsync(59_999)
    expect(ran).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(ran).toBe(true)
  })

  it('before the first answer, one call goes alone to learn the quotas', async () => {
    const guard = upstreamGuard()
    let sent = 0
    const call = async () => {
      sent++
      await new Promise((resolve) => setTimeout(resolve, 100))
      return new Response('{}', {
        headers: { 'x-ratelimit-remaining-requests': '3', 'x-ratelimit-reset-requests': '10s' },
      })
    }
    const all = Array.from({ length: 10 }, () => guard.run(1, call))
    await vi.advanceTimersByTimeAsync(99)
    expect(sent).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    // The answer said 3 left: three more go, the rest wait for the reset.
    expect(sent).toBe(4)
    await vi.advanceTimersByTimeAsync(10_200)
    expect(sent).toBeGreaterThan(4)
    await vi.advanceTimersByTimeAsync(60_000)
    await Promise.all(all)
  })

  it('a caller that aborts while waiting leaves the line with its reason', async () => {
    const guard = upstreamGuard()
    const limited = async () =>
      new Response('{}', {
        headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '5s' },
      })
    await guard.run(1, limited)
    const controller = new AbortController()
    const call = vi.fn(limited)
    const pending = guard.run(1, call, controller.signal)
    controller.abort(new Error('caller gave up'))
    await expect(pending).rejects.toThrow('caller gave up')
    await vi.advanceTimersByTimeAsync(6000)
    expect(call).not.toHaveBeenCalled()
  })

  it('a call larger than the whole token quota fails fast', async () => {
    const guard = upstreamGuard()
    await guard.run(
      10,
      async () =>
        new Response('{}', {
          headers: { 'x-ratelimit-limit-tokens': '1000', 'x-ratelimit-remaining-tokens': '990' },
        }),
    )
    await expect(guard.run(5000, async () => new Response('{}'))).rejects.toMatchObject({
      code: 'ERR_UPSTREAM_QUOTA',
      quota: 'tokens',
      message: expect.stringMatching(/5000 tokens is more than the upstream's whole quota "tokens" of 1000/),
    })
  })

  it("the response's usage corrects the token estimate", async () => {
    const guard = upstreamGuard({ tokensPerMinute: 1000 })
    const answer = (tokens: number) => async () =>
      new Response(JSON.stringify({ usage: { prompt_tokens: tokens, completion_tokens: 0 } }), {
        headers: { 'content-type': 'application/json' },
      })
    // Estimated 1,000, used 100: 900 come back.
    await guard.run(1000, answer(100))
    await vi.advanceTimersByTimeAsync(0)
    const started = Date.now()
    await guard.run(800, answer(800))
    expect(Date.now() - started).toBe(0)
    // Estimated 100, used 1,000: the next call waits for the overrun to refill.
    const second = upstreamGuard({ tokensPerMinute: 1000 })
    await second.run(100, answer(1000))
    await vi.advanceTimersByTimeAsync(0)
    let ran = false
    void second.run(500, async () => {
      ran = true
      return new Response('{}')
    })
    await vi.advanceTimersByTimeAsync(29_000)
    expect(ran).toBe(false)
    await vi.advanceTimersByTimeAsync(1000)
    expect(ran).toBe(true)
  })

  it('a 429 with Retry-After holds every caller until then', async () => {
    const guard = upstreamGuard()
    await guard.run(1, async () => new Response('{}', { status: 429, headers: { 'retry-after': '3' } }))
    const call = vi.fn(async () => new Response('{}'))
    const pending = guard.run(1, call)
    await vi.advanceTimersByTimeAsync(2999)
    expect(call).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    await pending
    expect(call).toHaveBeenCalledOnce()
  })

  it('an IETF daily policy spent beside a fresh burst policy fails fast; the burst alone would not', async () => {
    const guard = upstreamGuard()
    await guard.run(
      1,
      async () =>
        new Response('{}', {
          headers: {
            'ratelimit-policy': '"burst";q=20;w=1, "day";q=1000;w=86400',
            ratelimit: '"burst";r=19;t=1, "day";r=0;t=3600',
          },
        }),
    )
    await expect(guard.run(1, async () => new Response('{}'))).rejects.toMatchObject({
      code: 'ERR_UPSTREAM_QUOTA',
      quota: 'ietf:"day"',
      retryAfterMs: 3_600_000,
    })
  })

  it("Anthropic's output-token budget holds a call whose output estimate does not fit, not one that does", async () => {
    const guard = upstreamGuard()
    await guard.run(
      { inputTokens: 10, outputTokens: 10 },
      async () =>
        new Response('{}', {
          headers: {
            'anthropic-ratelimit-output-tokens-limit': '8000',
            'anthropic-ratelimit-output-tokens-remaining': '100',
            'anthropic-ratelimit-output-tokens-reset': new Date(Date.now() + 10_000).toISOString(),
          },
        }),
    )
    const started = Date.now()
    const small = vi.fn(async () => new Response('{}'))
    await guard.run({ inputTokens: 10, outputTokens: 50 }, small)
    expect(Date.now() - started).toBe(0)
    const big = vi.fn(async () => new Response('{}'))
    const pending = guard.run({ inputTokens: 10, outputTokens: 500 }, big)
    await vi.advanceTimersByTimeAsync(9_999)
    expect(big).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    await pending
    expect(big).toHaveBeenCalledOnce()
  })
})
