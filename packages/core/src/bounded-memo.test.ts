import { describe, expect, it } from 'vitest'
import { BoundedCache, boundedMemo, identityCapacity } from './bounded-memo.js'

describe('boundedMemo', () => {
  it('computes each key once while it is remembered', () => {
    const seen: string[] = []
    const upper = boundedMemo(10, (key: string) => {
      seen.push(key)
      return key.toUpperCase()
    })
    expect([upper('a'), upper('b'), upper('a'), upper('a')]).toEqual(['A', 'B', 'A', 'A'])
    expect(seen).toEqual(['a', 'b'])
  })

  it('never holds more than its limit: a flood clears it, and hot keys are computed again', () => {
    let computed = 0
    const memo = boundedMemo(100, (key: number) => {
      computed++
      return key * 2
    })
    for (let i = 0; i < 10_000; i++) expect(memo(i)).toBe(i * 2)
    expect(computed).toBe(10_000)
    // Key 9,999 came last, so it survived the last clear; key 0 did not.
    memo(9_999)
    expect(computed).toBe(10_000)
    memo(0)
    expect(computed).toBe(10_001)
  })
})

describe('BoundedCache', () => {
  /** How often 20 rounds over `clients` keys in rotation had to build a value. */
  function built(
    cache: { get(key: number): number | undefined; set(key: number, value: number): void },
    clients: number,
  ) {
    let count = 0
    for (let round = 0; round < 20; round++)
      for (let key = 0; key < clients; key++) {
        if (cache.get(key) === undefined) {
          count++
          cache.set(key, key + 1)
        }
      }
    return count
  }

  it('keeps a working set of up to twice its limit without building it again', () => {
    expect(built(new BoundedCache<number, number>(100), 150)).toBe(150)
    expect(built(new BoundedCache<number, number>(100), 199)).toBe(199)
  })

  it('negative control: a map that clears itself when full builds most keys again every round', () => {
    const memo = new Map<number, number>()
    const clearing = {
      get: (key: number) => memo.get(key),
      set: (key: number, value: number) => {
        if (memo.size >= 100) memo.clear()
        memo.set(key, value)
      },
    }
    expect(built(clearing, 150)).toBeGreaterThan(1000)
  })

  it('holds at most twice its limit, newest keys first', () => {
    const cache = new BoundedCache<number, number>(100)
    for (let i = 0; i < 1000; i++) cache.set(i, i)
    const kept = Array.from({ length: 1000 }, (_, i) => cache.get(i)).filter((value) => value !== undefined)
    expect(kept.length).toBeLessThanOrEqual(200)
    expect(cache.get(999)).toBe(999)
    expect(cache.get(0)).toBeUndefined()
  })
})

describe('identityCapacity', () => {
  it('grows with the largest memory store, so its callers are not rebuilt each round', async () => {
    const { memoryStore } = await import('./store/memory-store.js')
    const cache = new BoundedCache<number, number>(identityCapacity)
    // Before any large store, 30,000 callers in rotation overflow the two 10,000-key generations.
    expect(identityCapacity()).toBe(10_000)
    let built = 0
    const round = () => {
      for (let key = 0; key < 30_000; key++)
        if (cache.get(key) === undefined) {
          built++
          cache.set(key, key)
        }
    }
    round()
    round()
    expect(built).toBeGreaterThan(50_000)
    memoryStore({ maxKeys: 50_000 })
    expect(identityCapacity()).toBe(50_000)
    round()
    built = 0
    round()
    expect(built).toBe(0)
    // A smaller store never shrinks what a larger one needs.
    memoryStore({ maxKeys: 100 })
    expect(identityCapacity()).toBe(50_000)
  })
})
