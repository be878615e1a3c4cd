import { describe, expect, it } from 'vitest'
import { createLimiter, memoryStore } from '../index.js'
import { formatMs, formatWait } from './explain.js'

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

describe('denial messages read as a person writes', () => {
  it('formats waits of a minute or more in their two largest units', () => {
    expect(formatWait(250)).toBe('250ms')
    expect(formatWait(1577.2)).toBe('1.578s')
    expect(formatWait(60_000)).toBe('1m')
    expect(formatWait(125_000)).toBe('2m 5s')
    expect(formatWait(78_900_402)).toBe('21h 55m')
    expect(formatWait(3_600_000)).toBe('1h')
    expect(formatWait(277_200_000)).toBe('3d 5h')
  })

  it('says "1 request requested" and "21h 53m" in a denial', async () => {
    let now = Date.UTC(2026, 0, 1, 2, 5, 0) - 402
    const limiter = createLimiter({
      store: memoryStore({ now: () => now }),
      rules: [
        { name: 'per-ip', by: 'ip', requests: 1, per: '1m' },
        { name: 'daily', by: 'ip', requests: 2, per: 'day' },
      ],
    })
    const request = { method: 'POST', path: '/v1/x', headers: {}, ip: '192.0.2.1' }
    expect((await limiter.check(request)).allowed).toBe(true)
    const second = await limiter.check(request)
    expect(second.message).toMatch(/1 request requested\. Retry in \d/)
    expect(second.message).toContain('limit 1 request per 1m, 0 requests left')
    now += 60_000
    expect((await limiter.check(request)).allowed).toBe(true)
    now += 60_000
    const spent = await limiter.check(request)
    expect(spent.message).toContain('It resets in 21h 53m.')
  })
})
