import { setFlagsFromString } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from './memory-store.js'
import type { StoreCheck } from './store.js'

setFlagsFromString('--allow-natives-syntax')
/** V8's own answers (natives syntax, enabled just above): is the object in the young generation; collect it. */
const young = new Function('o', 'return %InYoungGeneration(o)') as (o: object) => boolean
const scavenge = new Function('%CollectGarbage(0)') as () => void

/** Makes 100,000 objects with `make` and holds them through five young collections, as a server holds decisions in flight. */
function holdThroughCollections<T extends object>(make: (i: number) => T): void {
  let held: T[] = []
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 20_000; i++) held.push(make(i))
    scavenge()
  }
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
