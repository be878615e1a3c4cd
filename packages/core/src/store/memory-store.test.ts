import { describe, expect, it } from 'vitest'
import { heapUsed } from '../../../../test/support/heap.js'
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

describe('memoryStore', () => {
  it('bounds a flood of 1,000,000 distinct keys and keeps what a depleted caller owes', () => {
    let now = 1_700_000_000_000
    const store = memoryStore({ maxKeys: 100_000, now: () => now })
    const window = rule('victim-window', 2)
    const bucket: StoreCheck = { ...rule('victim-bucket', 5), algorithm: 'token-bucket', windowMs: 3_600_000 }
    for (let i = 0; i < 3; i++) store.consumeSync([window], { requestId: `w${i}` })
    for (let i = 0; i < 5; i++) store.consumeSync([bucket], { requestId: `b${i}` })
    expect(store.consumeSync([window], { requestId: 'before' }).allowed).toBe(false)
    expect(store.consumeSync([bucket], { requestId: 'before' }).allowed).toBe(false)

    const before = heapUsed()
    for (let i = 0; i < 1_000_000; i++) {
      now += 0.01
      store.consumeSync([rule(`flood:${i}`)], { requestId: 'f' })
    }
    const grown = heapUsed() - before
    expect(store.size).toBeLessThanOrEqual(100_000)
    expect(grown).toBeLessThanOrEqual(64 * 1024 * 1024)
    // Both were forgotten long ago (the store holds the flood's newest 100,000), yet still owe it all.
    expect(store.consumeSync([window], { requestId: 'after' }).allowed).toBe(false)
    const after = store.consumeSync([bucket], { requestId: 'after' })
    expect(after.allowed).toBe(false)
    expect(after.results[0].remaining).toBe(0)
  })

  it('negative control: a table overrun by as heavy debts gives a depleted caller its limit back, and no more than it lost', () => {
    let now = 1_700_000_000_000
    const store = memoryStore({ maxKeys: 100, now: () => now })
    const bucket = (key: string): StoreCheck => ({
      ...rule(key, 2),
      algorithm: 'token-bucket',
      windowMs: 3_600_000,
    })
    const victim = bucket('victim')
    for (let i = 0; i < 2; i++) store.consumeSync([victim], { requestId: 'v' })
    // 5,000 depleted identities: far more debts than the 100 keys and 128 remembered debts hold.
    for (let i = 0; i < 5000; i++) {
      now += 1
      for (let j = 0; j < 2; j++) store.consumeSync([bucket(`flood:${i}`)], { requestId: 'f' })
    }
    expect(store.forgotten.capacity).toBe(128)
    expect(store.forgotten.lost).toBeGreaterThan(4000)
    // Later debts are owed longer, so they displaced the victim's: it is admitted again.
    expect(store.consumeSync([victim], { requestId: 'after' }).allowed).toBe(true)
    let regained = 1
    for (let i = 0; i < 5000; i++)
      if (store.consumeSync([bucket(`flood:${i}`)], { requestId: 'g' }).allowed) regained++
    // Asking again makes others forgotten in turn, so what was lost is read after.
    expect(regained).toBeLessThanOrEqual(store.forgotten.lost)
  })

  it('keeps the cost of a decision flat and what it gives back bounded with 200,000 identities limited for a day', () => {
    let now = Date.UTC(2026, 5, 15, 1)
    const store = memoryStore({ maxKeys: 100_000, now: () => now })
    const daily = (i: number): StoreCheck => ({ ...rule(`key:${i}`, 1), windowMs: 0, calendar: 'day' })
    // Per batch of 100 identities (one admitted and one denied request each), in µs.
    const batches: number[] = []
    for (let batch = 0; batch < 2000; batch++) {
      const started = performance.now()
      for (let i = batch * 100; i < batch * 100 + 100; i++) {
        now += 0.1
        store.consumeSync([daily(i)], { requestId: 'a' })
        store.consumeSync([daily(i)], { requestId: 'b' })
      }
      batches.push(performance.now() - started)
    }
    const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.99)]
    // Before: the first 100,000 fit; during: each new identity makes room by forgetting another.
    const before = p99(batches.slice(200, 1000))
    const during = p99(batches.slice(1000))
    expect(during).toBeLessThanOrEqual(10 * before)
    expect(store.size).toBeLessThanOrEqual(100_000)

    // The 100,000 forgotten debts fill three quarters of the table's 131,072 slots: almost none lost.
    expect(store.forgotten.lost).toBeLessThanOrEqual(100)
    // Every identity asks again: only those whose debt the table lost get anything back.
    let regained = 0
    for (let i = 0; i < 200_000; i++)
      if (store.consumeSync([daily(i)], { requestId: 'c' }).allowed) regained++
    expect(regained).toBeLessThanOrEqual(store.forgotten.lost)
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
