import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bytesEach } from '../../../../test/support/heap.js'
import type { StoreCheck } from '../store/store.js'
import { type AlgorithmImpl, Field } from './algorithm.js'
import { Entry } from './entry.js'
import { SLIDING_SLOTS, slidingWindow } from './sliding-window.js'

const WINDOW = 1000
const SLOT = WINDOW / SLIDING_SLOTS
const check: StoreCheck = {
  key: 'k',
  group: 'g',
  algorithm: 'sliding-window',
  limit: 1000,
  burst: 1000,
  windowMs: WINDOW,
  cost: 1,
}

/** A step: time passes, then a charge, or a refund of part of what an earlier charge took. */
const steps = fc.array(
  fc.oneof(
    fc.record({ dt: fc.integer({ min: 0, max: 300 }), cost: fc.integer({ min: 0, max: 3 }) }),
    fc.record({
      dt: fc.integer({ min: 0, max: 300 }),
      refund: fc.nat(),
      share: fc.integer({ min: 1, max: 3 }),
    }),
  ),
  { minLength: 1, maxLength: 80 },
)

type Step = { dt: number; cost: number } | { dt: number; refund: number; share: number }

/**
 * Replays the steps against the algorithm and a plain map of sub-window amounts; true when every
 * reported reset time is when the newest sub-window still holding an amount leaves the window.
 */
function resetsAgree(impl: AlgorithmImpl, sequence: Step[]): boolean {
  const entry = new Entry()
  const amounts = new Map<number, number>()
  const charged: { window: number; cost: number }[] = []
  let now = 1_700_000_000_000
  for (const step of sequence) {
    now += step.dt
    if ('refund' in step) {
      if (charged.length === 0) continue
      const target = charged[step.refund % charged.length]
      const delta = -Math.min(target.cost, step.share)
      impl.adjust(entry, check, target.window, delta, now, '')
      amounts.set(target.window, (amounts.get(target.window) ?? 0) + delta)
      target.cost += delta
    } else {
      const out = [0, 0, 0, 0, 0]
      const charge = { ...check, cost: step.cost }
      impl.inspect(entry, charge, now, out, 0)
      impl.charge(entry, charge, now, out, 0, '')
      amounts.set(out[Field.Window], (amounts.get(out[Field.Window]) ?? 0) + step.cost)
      charged.push({ window: out[Field.Window], cost: step.cost })
    }
    const out = [0, 0, 0, 0, 0]
    impl.inspect(entry, { ...check, cost: 0 }, now, out, 0)
    const oldest = Math.floor(now / SLOT) - SLIDING_SLOTS
    const live = [...amounts].filter(([window, amount]) => window >= oldest && amount > 0)
    const expected =
      live.length === 0 ? now : (Math.max(...live.map(([window]) => window)) + SLIDING_SLOTS + 1) * SLOT
    if (out[Field.ResetAt] !== expected) return false
  }
  return true
}

describe('sliding-window reset time', () => {
  it('is when the newest sub-window holding an amount leaves the window, refunds included', () => {
    fc.assert(
      fc.property(steps, (sequence) => resetsAgree(slidingWindow, sequence)),
      { numRuns: 500 },
    )
  })

  it('negative control: an algorithm that forgets refunds of the newest sub-window is caught', () => {
    const forgetful: AlgorithmImpl = {
      ...slidingWindow,
      adjust(entry, c, window, delta, now, leaseId) {
        const newest = entry.tat
        slidingWindow.adjust(entry, c, window, delta, now, leaseId)
        entry.tat = newest
      },
    }
    expect(() =>
      fc.assert(
        fc.property(steps, (sequence) => resetsAgree(forgetful, sequence)),
        { numRuns: 500 },
      ),
    ).toThrow(/Property failed/)
  })
})

describe('sliding-window when the clock goes back', () => {
  it('counts a charge in an older sub-window than the newest, and frees it with that sub-window', () => {
    const entry = new Entry()
    const three = { ...check, limit: 3, burst: 3 }
    const take = (now: number) => {
      const out = [0, 0, 0, 0, 0]
      slidingWindow.inspect(entry, three, now, out, 0)
      if (out[Field.Allowed] === 1) slidingWindow.charge(entry, three, now, out, 0, '')
      return out[Field.Allowed] === 1
    }
    // `start` begins sub-window k, so `start + 150` lies in k + 1 and `start + 50` in k.
    const start = 1_700_000_000_000
    expect(take(start + 150)).toBe(true)
    expect(take(start + 50)).toBe(true)
    expect(take(start + 150)).toBe(true)
    expect(take(start + 150)).toBe(false)
    // Sub-window k leaves the window when k + 11 begins; the two charges in k + 1 still count.
    expect(take(start + 1100)).toBe(true)
    expect(take(start + 1100)).toBe(false)
  })
})

describe("sliding-window's ring", () => {
  it('keeps its 22 numbers in a store of their size, not one grown by pushing', () => {
    const ring = () => {
      const entry = new Entry()
      const out = [0, 0, 0, 0, 0]
      // Two sub-windows: the second charge moves the first one's amount into the ring.
      for (const now of [1_700_000_000_000, 1_700_000_000_000 + SLOT]) {
        slidingWindow.inspect(entry, check, now, out, 0)
        slidingWindow.charge(entry, check, now, out, 0, '')
      }
      return entry.ring
    }
    expect(ring()).toHaveLength(2 * (SLIDING_SLOTS + 1))
    // 22 doubles and the array object take about 230 bytes; grown by pushing they kept room for 46.
    expect(bytesEach(ring)).toBeLessThan(300)
    // Control: the same numbers pushed into an array hold on to the larger store.
    const pushed = () => {
      const numbers: number[] = []
      for (let i = 0; i <= SLIDING_SLOTS; i++) numbers.push(-1.5, 0.5)
      return numbers
    }
    expect(bytesEach(pushed)).toBeGreaterThan(350)
  })
})
