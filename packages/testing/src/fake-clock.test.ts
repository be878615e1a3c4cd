import { isLlmLimitError, memoryStore, type StoreCheck } from '@llm-limit/core'
import { describe, expect, it } from 'vitest'
import { FAKE_CLOCK_START, fakeClock } from './fake-clock.js'

const check: StoreCheck = {
  key: 'r:g',
  group: 'g',
  rule: 'r',
  algorithm: 'fixed-window',
  limit: 1,
  burst: 1,
  windowMs: 60_000,
  cost: 1,
}

describe('fakeClock', () => {
  it('moves only when told, by milliseconds or durations', () => {
    const clock = fakeClock()
    expect(clock.now()).toBe(FAKE_CLOCK_START)
    expect(clock.advance(250)).toBe(FAKE_CLOCK_START + 250)
    expect(clock.advance('1m')).toBe(FAKE_CLOCK_START + 60_250)
    expect(clock.set(new Date(FAKE_CLOCK_START + 3_600_000))).toBe(FAKE_CLOCK_START + 3_600_000)
    expect(clock.now()).toBe(FAKE_CLOCK_START + 3_600_000)
  })

  it('drives a memory store: a denial turns into an admit exactly when the window passes', async () => {
    const clock = fakeClock()
    const store = memoryStore({ now: clock.now })
    expect((await store.consume([check], { requestId: 'a' })).allowed).toBe(true)
    const denied = await store.consume([check], { requestId: 'b' })
    expect(denied.allowed).toBe(false)
    clock.advance(denied.results[0].retryAfterMs - 1)
    expect((await store.consume([check], { requestId: 'c' })).allowed).toBe(false)
    clock.advance(1)
    expect((await store.consume([check], { requestId: 'd' })).allowed).toBe(true)
  })

  it('refuses bad input with errors that say what to give instead', () => {
    const clock = fakeClock(0)
    const caught = (run: () => unknown) => {
      try {
        run()
      } catch (error) {
        expect(isLlmLimitError(error)).toBe(true)
        return (error as Error).message
      }
      throw new Error('expected a throw')
    }
    expect(caught(() => fakeClock(Number.NaN))).toMatch(/epoch milliseconds or a valid Date/)
    expect(caught(() => clock.advance(-1))).toMatch(/>= 0/)
    expect(caught(() => clock.advance('1 minute'))).toMatch(/duration like/)
    expect(caught(() => clock.advance('day'))).toMatch(/calendar period 'day'/)
    clock.advance(10)
    expect(caught(() => clock.set(5))).toMatch(/backwards/)
  })
})
