import { createLimiter } from '@llm-limit/core'
import { rateLimiterFlexibleStore } from '@llm-limit/redis'
import { RateLimiterMemory } from 'rate-limiter-flexible'
import { describe, expect, it } from 'vitest'

const store = () => rateLimiterFlexibleStore({ create: (options) => new RateLimiterMemory(options) })
const request = { method: 'GET', path: '/', headers: {}, ip: '10.0.0.9' }

describe('rateLimiterFlexibleStore', () => {
  it('limits requests through an RLF limiter', async () => {
    const limiter = createLimiter({ store: store(), rules: [{ name: 'rpm', requests: 3, per: '1m' }] })
    const allowed = []
    for (let i = 0; i < 5; i++) allowed.push((await limiter.check(request)).allowed)
    expect(allowed).toEqual([true, true, true, false, false])
    const denied = await limiter.check(request)
    expect(denied.retryAfterMs).toBeGreaterThan(0)
  })

  it('compensates: a denial by a later rule leaves earlier rules as they were', async () => {
    const limiter = createLimiter({
      store: store(),
      rules: [
        { name: 'wide', requests: 100, per: '1m' },
        { name: 'narrow', requests: 1, per: '1m' },
      ],
    })
    await limiter.check(request)
    const denied = await limiter.check(request)
    expect(denied.allowed).toBe(false)
    const again = await limiter.check(request)
    expect(again.rules.find((rule) => rule.name === 'wide')?.remaining).toBe(99)
  })

  it('refuses concurrency rules with a clear error', async () => {
    const limiter = createLimiter({
      store: store(),
      rules: [{ name: 'par', concurrent: 2 }],
      onStoreError: 'fail-closed',
    })
    await expect(
      store().consume(
        [{ key: 'k', group: 'g', algorithm: 'concurrency', limit: 2, burst: 2, windowMs: 1000, cost: 1 }],
        { requestId: 'x' },
      ),
    ).rejects.toThrow(/concurrency leases/)
    expect((await limiter.check(request)).status).toBe(503)
  })
})
