import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { circuitBreaker } from './circuit-breaker.js'

const answer =
  (status: number, headers: Record<string, string> = {}) =>
  async () =>
    new Response('{}', { status, headers })

describe('circuitBreaker', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    vi.setSystemTime(Date.UTC(2026, 0, 1))
  })
  afterEach(() => vi.useRealTimers())

  it('opens after repeated 429s, fails fast, half-opens at the advertised reset, closes on success', async () => {
    const states: string[] = []
    const breaker = circuitBreaker({ failureThreshold: 3, onStateChange: (state) => states.push(state) })
    for (let i = 0; i < 3; i++) await breaker.run(answer(429, { 'retry-after': '10' }))
    expect(breaker.state).toBe('open')
    const call = vi.fn(answer(200))
    await expect(breaker.run(call)).rejects.toMatchObject({ code: 'ERR_CIRCUIT_OPEN', retryAfterMs: 10_000 })
    expect(call).not.toHaveBeenCalled()
    vi.advanceTimersByTime(9_999)
    expect(breaker.state).toBe('open')
    vi.advanceTimersByTime(1)
    expect(breaker.state).toBe('half-open')
    await breaker.run(call)
    expect(breaker.state).toBe('closed')
    expect(states).toEqual(['open', 'half-open', 'closed'])
  })

  it('a failed trial re-opens the circuit', async () => {
    const breaker = circuitBreaker({ failureThreshold: 1, cooldownMs: 5000 })
    await breaker.run(answer(503))
    vi.advanceTimersByTime(5000)
    expect(breaker.state).toBe('half-open')
    await breaker.run(answer(503))
    expect(breaker.state).toBe('open')
  })

  it('lets only one trial through while half-open', async () => {
    const breaker = circuitBreaker({ failureThreshold: 1, cooldownMs: 1000 })
    await breaker.run(answer(500))
    vi.advanceTimersByTime(1000)
    let finish: (response: Response) => void = () => {}
    const trial = breaker.run(() => new Promise<Response>((resolve) => (finish = resolve)))
    await expect(breaker.run(answer(200))).rejects.toMatchObject({ code: 'ERR_CIRCUIT_OPEN' })
    finish(new Response('{}'))
    await trial
    expect(breaker.state).toBe('closed')
  })

  it('opens when the remaining quota falls under the threshold, and uses the fallback', async () => {
    const breaker = circuitBreaker({
      minRemaining: 5,
      fallback: () => new Response('cached', { status: 200 }),
    })
    await breaker.run(
      answer(200, { 'x-ratelimit-remaining-requests': '2', 'x-ratelimit-reset-requests': '3s' }),
    )
    expect(breaker.state).toBe('open')
    expect(await (await breaker.run(answer(200))).text()).toBe('cached')
    vi.advanceTimersByTime(3000)
    expect(breaker.state).toBe('half-open')
  })
})

describe('circuitBreaker: only the upstream can open it', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    vi.setSystemTime(Date.UTC(2026, 0, 1))
  })
  afterEach(() => vi.useRealTimers())

  /** An upstream that never answers in time: only the caller's signal ends the call. */
  const hanging = (_input: unknown, init?: RequestInit) =>
    new Promise<Response>((_resolve, reject) => {
      init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true })
    })

  it('five caller aborts leave it closed; five upstream 503s open it', async () => {
    const breaker = circuitBreaker({ failureThreshold: 5 })
    const fetch = breaker.fetch(hanging as typeof globalThis.fetch)
    for (let i = 0; i < 5; i++) {
      const controller = new AbortController()
      const pending = fetch('https://api.test/v1', { signal: controller.signal })
      controller.abort()
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    }
    // The same through run(), with an SDK's own abort error and no signal to go by.
    for (let i = 0; i < 5; i++) {
      const sdkAbort = Object.assign(new Error('Request was aborted.'), { name: 'APIUserAbortError' })
      await expect(breaker.run(() => Promise.reject(sdkAbort))).rejects.toBe(sdkAbort)
    }
    expect(breaker.state).toBe('closed')
    for (let i = 0; i < 5; i++) await breaker.run(answer(503))
    expect(breaker.state).toBe('open')
  })

  it('a timeout is the upstream being slow: it counts', async () => {
    const breaker = circuitBreaker({ failureThreshold: 2 })
    const fetch = breaker.fetch(hanging as typeof globalThis.fetch)
    for (let i = 0; i < 2; i++) {
      const controller = new AbortController()
      const pending = fetch('https://api.test/v1', { signal: controller.signal })
      controller.abort(new DOMException('The operation timed out.', 'TimeoutError'))
      await expect(pending).rejects.toMatchObject({ name: 'TimeoutError' })
    }
    expect(breaker.state).toBe('open')
  })

  it('a caller rejected during the half-open trial is told a real wait, and the trial decides', async () => {
    const breaker = circuitBreaker({ failureThreshold: 1, cooldownMs: 1000, halfOpenRetryMs: 750 })
    await breaker.run(answer(503))
    vi.advanceTimersByTime(1000)
    let finish: (response: Response) => void = () => {}
    const trial = breaker.run(() => new Promise<Response>((resolve) => (finish = resolve)))
    const rejected = await breaker.run(answer(200)).catch((error) => error)
    expect(rejected.code).toBe('ERR_CIRCUIT_OPEN')
    expect(rejected.retryAfterMs).toBe(750)
    expect(rejected.message).toMatch(/750 ms/)
    finish(new Response('{}'))
    await trial
    expect(breaker.state).toBe('closed')
  })

  it('the default half-open wait is above zero, so a caller honouring it cannot spin', async () => {
    const breaker = circuitBreaker({ failureThreshold: 1, cooldownMs: 10 })
    await breaker.run(answer(500))
    vi.advanceTimersByTime(10)
    void breaker.run(() => new Promise<Response>(() => {}))
    await expect(breaker.run(answer(200))).rejects.toMatchObject({ retryAfterMs: 1000 })
  })

  it("a caller's abort during the trial lets the next caller be the trial", async () => {
    const breaker = circuitBreaker({ failureThreshold: 1, cooldownMs: 10 })
    await breaker.run(answer(500))
    vi.advanceTimersByTime(10)
    const controller = new AbortController()
    const pending = breaker.fetch(hanging as typeof globalThis.fetch)('https://api.test/v1', {
      signal: controller.signal,
    })
    controller.abort()
    await expect(pending).rejects.toBeDefined()
    expect(breaker.state).toBe('half-open')
    await breaker.run(answer(200))
    expect(breaker.state).toBe('closed')
  })

  it("opens for Anthropic's input-token reset (3 s), not the 30 s cooldown", async () => {
    const breaker = circuitBreaker({ failureThreshold: 1 })
    await breaker.run(
      answer(429, {
        'anthropic-ratelimit-input-tokens-limit': '40000',
        'anthropic-ratelimit-input-tokens-remaining': '0',
        'anthropic-ratelimit-input-tokens-reset': new Date(Date.now() + 3000).toISOString(),
        'anthropic-ratelimit-requests-remaining': '49',
        'anthropic-ratelimit-requests-reset': new Date(Date.now() + 1000).toISOString(),
      }),
    )
    expect(breaker.retryAfterMs).toBe(3000)
    vi.advanceTimersByTime(3000)
    expect(breaker.state).toBe('half-open')
  })

  it('minRemaining watches tokens too, and opens until that quota resets', async () => {
    const breaker = circuitBreaker({ minRemaining: { requests: 2, tokens: 1000 } })
    await breaker.run(
      answer(200, {
        'x-ratelimit-remaining-requests': '40',
        'x-ratelimit-remaining-tokens': '500',
        'x-ratelimit-reset-tokens': '4s',
      }),
    )
    expect(breaker.state).toBe('open')
    expect(breaker.retryAfterMs).toBe(4000)
    const numeric = circuitBreaker({ minRemaining: 5 })
    await numeric.run(answer(200, { 'anthropic-ratelimit-output-tokens-remaining': '3' }))
    expect(numeric.state).toBe('open')
  })
})
