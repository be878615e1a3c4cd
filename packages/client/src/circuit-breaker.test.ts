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
