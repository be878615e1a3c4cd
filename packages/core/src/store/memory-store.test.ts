import { describe, expect, it } from 'vitest'
import { memoryStore } from './memory-store.js'
import type { StoreCheck } from './store.js'

const rule = (key: string, limit = 5): StoreCheck => ({
  key,
  group: key,
  algorithm: 'fixed-window',
  limit,
  burst: limit,
  windowMs: 60_000,
  cost: 1,
})

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc)
    throw new Error(
      'Run with --expose-gc (vitest.config.ts sets it) so heap growth is measured after a collection.',
    )
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

describe('memoryStore', () => {
  it('bounds a flood of 1,000,000 distinct keys and never forgets a limited key', () => {
    let now = 1_700_000_000_000
    const store = memoryStore({ maxKeys: 100_000, now: () => now })
    const victim = rule('victim', 2)
    for (let i = 0; i < 3; i++) store.consumeSync([victim], { requestId: `v${i}` })
    expect(store.consumeSync([victim], { requestId: 'before' }).allowed).toBe(false)

    const before = heapUsed()
    for (let i = 0; i < 1_000_000; i++) {
      now += 0.01
      store.consumeSync([rule(`flood:${i}`)], { requestId: 'f' })
    }
    const grown = heapUsed() - before
    expect(store.size).toBeLessThanOrEqual(100_001)
    expect(grown).toBeLessThanOrEqual(64 * 1024 * 1024)
    expect(store.consumeSync([victim], { requestId: 'after' }).allowed).toBe(false)
  })

  it('negative control: an unlimited key is evicted by the flood and starts fresh', () => {
    let now = 1_700_000_000_000
    const store = memoryStore({ maxKeys: 1000, now: () => now })
    const bystander = rule('bystander', 2)
    store.consumeSync([bystander], { requestId: 'b' })
    for (let i = 0; i < 5000; i++) {
      now += 0.01
      store.consumeSync([rule(`flood:${i}`)], { requestId: 'f' })
    }
    // Forgotten: it starts fresh with 2 and has 1 left after this charge (kept, it would have 0).
    const result = store.consumeSync([bystander], { requestId: 'b2' })
    expect(result.results[0].remaining).toBe(1)
  })

  it('keeps a key in use through a flood, whether its checks are reused or made afresh', () => {
    let now = 1_700_000_000_000
    const store = memoryStore({ maxKeys: 1000, now: () => now })
    // One check object held across calls finds its key through the slot; fresh ones look it up by name.
    const held = rule('held', 1e6)
    for (let i = 0; i < 5000; i++) {
      now += 0.01
      store.consumeSync([rule(`flood:${i}`)], { requestId: 'f' })
      if (i % 100 === 0) {
        store.consumeSync([held], { requestId: 'h' })
        store.consumeSync([rule('named', 1e6)], { requestId: 'n' })
      }
    }
    // Kept: each has every charge it took (50), so 1e6 − 51 remain after this one.
    expect(store.consumeSync([held], { requestId: 'h' }).results[0].remaining).toBe(1e6 - 51)
    expect(store.consumeSync([rule('named', 1e6)], { requestId: 'n' }).results[0].remaining).toBe(1e6 - 51)
  })

  it('charges nothing when any check denies', () => {
    const now = 1_700_000_000_000
    const store = memoryStore({ now: () => now })
    const checks = [rule('a', 10), rule('b', 10), rule('c', 1)]
    expect(store.consumeSync(checks, { requestId: '1' }).allowed).toBe(true)
    const denied = store.consumeSync(checks, { requestId: '2' })
    expect(denied.allowed).toBe(false)
    expect(denied.results.map((r) => r.remaining)).toEqual([9, 9, 0])
    const peek = store.consumeSync(
      checks.map((c) => ({ ...c, cost: 0 })),
      { requestId: '3' },
    )
    expect(peek.results.map((r) => r.remaining)).toEqual([9, 9, 0])
  })

  it('keeps each store its own count when one check object reaches two stores, or is frozen, or the store is cleared', () => {
    const now = 1_700_000_000_000
    const first = memoryStore({ now: () => now })
    const second = memoryStore({ now: () => now })
    const shared = rule('shared', 3)
    first.consumeSync([shared], { requestId: '1' })
    first.consumeSync([shared], { requestId: '2' })
    // The check now holds the first store's state as its slot; the second store must not use it.
    expect(second.consumeSync([shared], { requestId: '3' }).results[0].remaining).toBe(2)
    expect(first.consumeSync([shared], { requestId: '4' }).results[0].remaining).toBe(0)
    first.clear()
    expect(first.consumeSync([shared], { requestId: '5' }).results[0].remaining).toBe(2)

    const frozen = Object.freeze(rule('frozen', 3))
    first.consumeSync([frozen], { requestId: '6' })
    expect(first.consumeSync([frozen], { requestId: '7' }).results[0].remaining).toBe(1)
  })

  it('rejects an invalid maxKeys with a message that names it', () => {
    expect(() => memoryStore({ maxKeys: 0 })).toThrow(/maxKeys/)
  })
})
