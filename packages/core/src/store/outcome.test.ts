import { setFlagsFromString } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { bytesEach } from '../../../../test/support/heap.js'
import { MemoryStore } from './memory-store.js'
import { CheckOutcome, ConsumeOutcome, type PackedOutcome } from './outcome.js'
import type { StoreCheck } from './store.js'

setFlagsFromString('--allow-natives-syntax')
/** V8's own answer (natives syntax, enabled just above): is the object in the young generation. */
const young = new Function('o', 'return %InYoungGeneration(o)') as (o: object) => boolean

/**
 * Makes 500,000 objects with `make` and holds them all, as a server holds decisions in flight. V8
 * pretenures a site only at a scavenge of a young generation grown to its largest size, which the
 * ordinary scavenges of this much surviving data reach (forced collections are full ones, which
 * never decide it). One round pretenures the literal of the control in about nine runs of ten, so
 * each test runs up to three.
 */
function holdThroughCollections<T extends object>(make: (i: number) => T): void {
  let held: T[] = []
  for (let i = 0; i < 500_000; i++) held.push(make(i))
  held = []
}

const ROUNDS = 3

const checksOf = (i: number): StoreCheck[] =>
  ['a', 'b', 'c'].map((rule) => ({
    key: `${rule}:i:${i}`,
    group: `i:${i}`,
    rule,
    algorithm: 'fixed-window',
    limit: 1e9,
    burst: 1e9,
    windowMs: 60_000,
    cost: 1,
  }))

describe('what a decision keeps from the memory store', () => {
  // First, in a fresh worker: how soon V8 pretenures depends on what earlier tests left in the heap.
  it('negative control: an object literal whose objects lived through collections is allocated old from then on', () => {
    const literal = (now: number) => ({ allowed: true, now, results: [] })
    for (let round = 0; round < ROUNDS && young(literal(1.5)); round++)
      holdThroughCollections((i) => literal(i + 0.5))
    expect(young(literal(1.5))).toBe(false)
  })

  it('is allocated young even after earlier results lived through collections, so V8 never pretenures it', () => {
    const store = new MemoryStore()
    const checks = Array.from({ length: 100 }, (_, i) => checksOf(i))
    for (let round = 0; round < ROUNDS; round++)
      holdThroughCollections((i) => store.consumeSync(checks[i % 100], { requestId: `r${i}` }))
    const fresh = store.consumeSync(checks[0], { requestId: 'fresh' })
    expect(young(fresh)).toBe(true)
    expect(young((fresh as PackedOutcome).numbers)).toBe(true)
  })
})

// After the pretenuring tests: the full collections this one forces shrink the young generation those need grown.
describe("the memory store's result", () => {
  it('keeps its numbers in one array of doubles, and builds result objects only when they are read', () => {
    const now = 1_700_000_012_345
    const store = new MemoryStore({ now: () => now })
    const checks = checksOf(0)
    // Three checks' numbers in one array, the outcome and its time: 250 bytes measured (435 as objects).
    expect(bytesEach(() => store.consumeSync(checks, { requestId: 'r' }))).toBeLessThan(300)
    // Control: the same numbers as three result objects with boxed numbers, as the store made before.
    const objects = () => {
      const now = Date.now() + 0.5
      const results = [0, 1, 2].map((i) => new CheckOutcome(true, 1e9 - i - 0.5, now + 60_000, 0, now - i))
      return new ConsumeOutcome(true, now, results)
    }
    expect(bytesEach(objects)).toBeGreaterThan(400)
    const result = store.consumeSync(checks, { requestId: 'read' })
    // 20,000 decisions above and this one, all in one fixed window of a minute.
    const window = Math.floor(now / 60_000) * 60_000
    const read = { allowed: true, remaining: 1e9 - 20_001, resetAt: window + 60_000, retryAfterMs: 0, window }
    expect(result.results).toEqual([read, read, read])
    // Serialised, it reads as a plain result (its numbers are behind a getter).
    expect(JSON.parse(JSON.stringify(result))).toEqual({
      allowed: true,
      now: result.now,
      results: result.results.map((out) => ({ ...out })),
    })
    // Each number of checks has its own scratch array: a decision never reads another's numbers.
    expect(store.consumeSync([], { requestId: 'none' })).toMatchObject({ allowed: true, results: [] })
    expect(store.consumeSync(checks.slice(0, 1), { requestId: 'one' }).results).toHaveLength(1)
    expect(store.consumeSync(checks, { requestId: 'three' }).results).toHaveLength(3)
  })
})
