import { setFlagsFromString } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from './memory-store.js'
import type { StoreAlgorithm, StoreCheck } from './store.js'

setFlagsFromString('--allow-natives-syntax')
/** V8's own answer to "do these objects share a hidden class?" (natives syntax, enabled just above). */
const sameShape = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean

const check = (algorithm: StoreAlgorithm, group: string, cost = 1): StoreCheck => ({
  key: `${algorithm}:${group}`,
  group,
  rule: algorithm,
  algorithm,
  limit: 7,
  burst: 7,
  windowMs: 60_000,
  cost,
})

describe("the memory store's key state", () => {
  it('keeps one hidden class for every key, whatever algorithm and numbers it holds', () => {
    // A clock with fractions and epoch-ms values: every number field takes a double.
    let now = 1_764_900_000_123.25
    const store = new MemoryStore({ now: () => now })
    // The first key of this module's store, only inspected (cost 0): it keeps the numbers it started with.
    const untouched = check('fixed-window', 'i:first', 0)
    store.consumeSync([untouched], { requestId: 'first' })
    const checks = [
      check('token-bucket', 'i:a'),
      check('fixed-window', 'i:b'),
      check('sliding-window', 'i:c'),
    ]
    for (let i = 0; i < 3; i++) {
      store.consumeSync(checks, { requestId: `r${i}` })
      now += 1_000.5
    }
    const [bucket, window, sliding] = checks.map((c) => c.slot as object)
    expect(sameShape(bucket, window)).toBe(true)
    expect(sameShape(bucket, sliding)).toBe(true)
    // Numbers that started as small integers would have moved every written key to a new hidden class.
    expect(sameShape(untouched.slot as object, bucket)).toBe(true)
  })
})
