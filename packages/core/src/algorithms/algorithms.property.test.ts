import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { StoreCheck } from '../store/store.js'
import { type AlgorithmImpl, Field } from './algorithm.js'
import { Entry } from './entry.js'
import { fixedWindow } from './fixed-window.js'
import { slidingWindow } from './sliding-window.js'
import { tokenBucket } from './token-bucket.js'

type Event = { dt: number; cost: number }
type Admitted = { at: number; cost: number }

const LIMIT = 10
const WINDOW = 1000
const events = fc.array(
  fc.record({ dt: fc.integer({ min: 0, max: 400 }), cost: fc.integer({ min: 1, max: 4 }) }),
  {
    minLength: 1,
    maxLength: 150,
  },
)

/** Drives one algorithm with a fake clock and returns what it admitted. */
function run(impl: AlgorithmImpl, check: Omit<StoreCheck, 'cost'>, sequence: Event[]): Admitted[] {
  const entry = new Entry()
  const admitted: Admitted[] = []
  let now = 1_700_000_000_000
  for (const { dt, cost } of sequence) {
    now += dt
    const full = { ...check, cost }
    const out = [0, 0, 0, 0, 0]
    impl.inspect(entry, full, now, out, 0)
    if (out[Field.Allowed] === 1) {
      impl.charge(entry, full, now, out, 0, 'lease')
      admitted.push({ at: now, cost })
    }
  }
  return admitted
}

const fixedCheck = {
  key: 'k',
  group: 'g',
  algorithm: 'fixed-window',
  limit: LIMIT,
  burst: LIMIT,
  windowMs: WINDOW,
} as const
const slidingCheck = { ...fixedCheck, algorithm: 'sliding-window' } as const
const bucketCheck = { ...fixedCheck, algorithm: 'token-bucket', burst: 4 } as const

/** Fixed window reference: the sum in every epoch-aligned window stays within the limit. */
function fixedHolds(admitted: Admitted[]): boolean {
  const sums = new Map<number, number>()
  for (const { at, cost } of admitted) {
    const start = Math.floor(at / WINDOW) * WINDOW
    sums.set(start, (sums.get(start) ?? 0) + cost)
  }
  return [...sums.values()].every((sum) => sum <= LIMIT)
}

/** Sliding reference: the sum in EVERY rolling window (t - W, t] stays within the limit. */
function slidingHolds(admitted: Admitted[]): boolean {
  return admitted.every(({ at }) => {
    const sum = admitted
      .filter((event) => event.at > at - WINDOW && event.at <= at)
      .reduce((total, e) => total + e.cost, 0)
    return sum <= LIMIT
  })
}

/** Token bucket reference: between any two admissions, never more than burst + rate × elapsed. */
function bucketHolds(admitted: Admitted[]): boolean {
  const rate = LIMIT / WINDOW
  for (let i = 0; i < admitted.length; i++) {
    let sum = 0
    for (let j = i; j < admitted.length; j++) {
      sum += admitted[j].cost
      if (sum > bucketCheck.burst + rate * (admitted[j].at - admitted[i].at) + 1e-9) return false
    }
  }
  return true
}

/** Charges half of what it should: a deliberately broken algorithm for the negative controls. */
function halfCharging(impl: AlgorithmImpl): AlgorithmImpl {
  return {
    inspect: impl.inspect,
    adjust: impl.adjust,
    charge: (entry, check, now, out, at, lease) =>
      impl.charge(entry, { ...check, cost: Math.floor(check.cost / 2) }, now, out, at, lease),
  }
}

const cases = [
  { name: 'fixed-window', impl: fixedWindow, check: fixedCheck, holds: fixedHolds },
  { name: 'sliding-window', impl: slidingWindow, check: slidingCheck, holds: slidingHolds },
  { name: 'token-bucket', impl: tokenBucket, check: bucketCheck, holds: bucketHolds },
] as const

describe.each(cases)('$name without settlements', ({ impl, check, holds }) => {
  it('never admits more than its guarantee in any window', () => {
    fc.assert(
      fc.property(events, (sequence) => holds(run(impl, check, sequence))),
      { numRuns: 300 },
    )
  })

  it('negative control: the same property catches a broken algorithm', () => {
    expect(() =>
      fc.assert(
        fc.property(events, (sequence) => holds(run(halfCharging(impl), check, sequence))),
        { numRuns: 500 },
      ),
    ).toThrow(/Property failed/)
  })
})

describe('sliding-window vs the two-counter approximation', () => {
  it('negative control: a two-counter sliding window breaks the rolling-window property', () => {
    // The common approximation weights the previous window; it over-admits after a burst at a window's end.
    const twoCounter: AlgorithmImpl = {
      inspect(entry, c, now, out, at) {
        const start = Math.floor(now / c.windowMs) * c.windowMs
        const current = entry.start === start ? entry.count : 0
        const previous =
          entry.start === start ? entry.tat : entry.start === start - c.windowMs ? entry.count : 0
        const used = previous * ((c.windowMs - (now - start)) / c.windowMs) + current
        out[at + Field.Allowed] = used + c.cost <= c.limit ? 1 : 0
      },
      charge(entry, c, now) {
        const start = Math.floor(now / c.windowMs) * c.windowMs
        if (entry.start !== start) {
          entry.tat = entry.start === start - c.windowMs ? entry.count : 0
          entry.start = start
          entry.count = 0
        }
        entry.count += c.cost
      },
      adjust() {},
    }
    expect(() =>
      fc.assert(
        fc.property(events, (sequence) => slidingHolds(run(twoCounter, slidingCheck, sequence))),
        { numRuns: 1000 },
      ),
    ).toThrow(/Property failed/)
  })
})

describe('token bucket matches a continuous-refill reference exactly', () => {
  it('admits exactly when a float token bucket has enough tokens', () => {
    fc.assert(
      fc.property(events, (sequence) => {
        const rate = LIMIT / WINDOW
        let tokens: number = bucketCheck.burst
        let now = 1_700_000_000_000
        let last = now
        const expected: Admitted[] = []
        for (const { dt, cost } of sequence) {
          now += dt
          tokens = Math.min(bucketCheck.burst, tokens + (now - last) * rate)
          last = now
          if (tokens + 1e-9 >= cost) {
            tokens -= cost
            expected.push({ at: now, cost })
          }
        }
        expect(run(tokenBucket, bucketCheck, sequence)).toEqual(expected)
      }),
      { numRuns: 300 },
    )
  })
})
