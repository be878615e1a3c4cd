import { describe, expect, it } from 'vitest'
import { boundedMemo } from './bounded-memo.js'

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
