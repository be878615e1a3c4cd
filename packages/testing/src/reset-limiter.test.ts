import { createLimiter, isLlmLimitError, type Store } from '@llm-limit/core'
import { describe, expect, it } from 'vitest'
import { resetLimiter, testLimiter } from './reset-limiter.js'

const request = { method: 'GET', path: '/', headers: {}, ip: '10.0.0.9' }
const rules = [{ by: 'ip' as const, requests: 1, per: '1m' as const }]

describe('resetLimiter and testLimiter', () => {
  it('resetLimiter gives a limiter its full limits back', async () => {
    const limiter = createLimiter({ rules })
    expect((await limiter.check(request)).allowed).toBe(true)
    expect((await limiter.check(request)).allowed).toBe(false)
    await resetLimiter(limiter)
    expect((await limiter.check(request)).allowed).toBe(true)
    await limiter.close()
  })

  it('testLimiter: its clock moves the limits, reset() empties them', async () => {
    const { limiter, clock, reset } = testLimiter({ rules })
    expect((await limiter.check(request)).allowed).toBe(true)
    expect((await limiter.check(request)).allowed).toBe(false)
    clock.advance('1m')
    expect((await limiter.check(request)).allowed).toBe(true)
    expect((await limiter.check(request)).allowed).toBe(false)
    await reset()
    expect((await limiter.check(request)).allowed).toBe(true)
  })

  it('says how to proceed with a store it cannot empty, or a store given to testLimiter', async () => {
    const store: Store = {
      name: 'custom',
      consume: async () => ({ allowed: true, now: 0, results: [] }),
      adjust: async () => {},
    }
    const error = await resetLimiter(store).catch((caught: unknown) => caught)
    expect(isLlmLimitError(error)).toBe(true)
    expect(String(error)).toMatch(/'custom' has no clear\(\) method.*fresh store/)
    await expect(resetLimiter({} as Store)).rejects.toThrow(/limiter from createLimiter\(\) or a store/)
    expect(() => testLimiter({ store } as never)).toThrow(/leave out `store`/)
  })
})
