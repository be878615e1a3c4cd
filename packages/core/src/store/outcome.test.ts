import { setFlagsFromString } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from './memory-store.js'
import type { StoreCheck } from './store.js'

setFlagsFromString('--allow-natives-syntax')
/** V8's own answer (natives syntax, enabled just above): is the object in the young generation. */
const young = new Function('o', 'return %InYoungGeneration(o)') as (o: object) => boolean

/**
 * Makes 500,000 objects with `make` and holds them all, as a server holds decisions in flight. V8
 * pretenures a site only at a scavenge of a young generation grown to its largest size, which the
 * ordinary scavenges of this much surviving data reach (forced collections are full ones, which
 * never decide it, and fewer objects left the control passing or failing with the heap's history).
 */
function holdThroughCollections<T extends object>(make: (i: number) => T): void {
  let held: T[] = []
  for (let i = 0; i < 500_000; i++) held.push(make(i))
  held = []
}

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
  it('is allocated young even after earlier results lived through collections, so V8 never pretenures it', () => {
    const store = new MemoryStore()
    const checks = Array.from({ length: 100 }, (_, i) => checksOf(i))
    holdThroughCollections((i) => store.consumeSync(checks[i % 100], { requestId: `r${i}` }))
    const fresh = store.consumeSync(checks[0], { requestId: 'fresh' })
    expect(young(fresh)).toBe(true)
    expect(fresh.results.every(young)).toBe(true)
  })

  it('negative control: an object literal whose objects lived through collections is allocated old from then on', () => {
    const literal = (now: number) => ({ allowed: true, now, results: [] })
    holdThroughCollections((i) => literal(i + 0.5))
    expect(young(literal(1.5))).toBe(false)
  })
})
