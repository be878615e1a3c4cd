import { describe, expect, it } from 'vitest'
import { formatMs } from './explain.js'

describe('wait times in messages', () => {
  it.each([
    [250, '250ms'],
    [1500, '1.5s'],
    [34_000, '34s'],
    [60_000, '1m'],
    [90_000, '1.5m'],
    [3_600_000, '1h'],
    [87_740_860, '24.4h'],
    [3 * 86_400_000 + 1, '3.1d'],
  ])('%i ms reads %s', (ms, text) => {
    expect(formatMs(ms)).toBe(text)
  })
})
