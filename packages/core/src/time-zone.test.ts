import { describe, expect, it } from 'vitest'
import { calendarWindow } from './duration.js'
import { createLimiter } from './engine/limiter.js'
import { memoryStore } from './store/memory-store.js'
import { timeZoneName, zonedBoundaries, zonedWindow } from './time-zone.js'

const HOUR = 3_600_000
const at = (iso: string) => Date.parse(iso)
const iso = (window: { start: number; end: number }) => [
  new Date(window.start).toISOString(),
  new Date(window.end).toISOString(),
]

// Expected instants are written out by hand from each zone's rules, not computed with Intl.
describe('zoned calendar windows', () => {
  it('Asia/Kolkata (+5:30): the day starts at 18:30 UTC the day before; UTC gives other bounds', () => {
    const now = at('2026-06-15T20:00:00Z') // 01:30 on the 16th in Kolkata
    expect(iso(zonedWindow('day', now, 'Asia/Kolkata'))).toEqual([
      '2026-06-15T18:30:00.000Z',
      '2026-06-16T18:30:00.000Z',
    ])
    expect(iso(calendarWindow('day', now))).toEqual(['2026-06-15T00:00:00.000Z', '2026-06-16T00:00:00.000Z'])
    // One millisecond before local midnight is still the 15th; local midnight itself is the 16th.
    expect(zonedWindow('day', at('2026-06-15T18:29:59.999Z'), 'Asia/Kolkata').start).toBe(
      at('2026-06-14T18:30:00Z'),
    )
    expect(zonedWindow('day', at('2026-06-15T18:30:00Z'), 'Asia/Kolkata').start).toBe(
      at('2026-06-15T18:30:00Z'),
    )
  })

  it('America/New_York: March 8, 2026 lasts 23 hours and November 1 lasts 25', () => {
    const spring = zonedWindow('day', at('2026-03-08T12:00:00Z'), 'America/New_York')
    expect(iso(spring)).toEqual(['2026-03-08T05:00:00.000Z', '2026-03-09T04:00:00.000Z'])
    expect(spring.end - spring.start).toBe(23 * HOUR)
    const fall = zonedWindow('day', at('2026-11-01T12:00:00Z'), 'America/New_York')
    expect(iso(fall)).toEqual(['2026-11-01T04:00:00.000Z', '2026-11-02T05:00:00.000Z'])
    expect(fall.end - fall.start).toBe(25 * HOUR)
    // The repeated hour (01:00-02:00 twice) is one day: both passes read November 1.
    expect(zonedWindow('day', at('2026-11-01T05:30:00Z'), 'America/New_York')).toEqual(fall)
    expect(zonedWindow('day', at('2026-11-01T06:30:00Z'), 'America/New_York')).toEqual(fall)
    // Negative control: the days around them are 24 hours.
    const before = zonedWindow('day', at('2026-03-07T12:00:00Z'), 'America/New_York')
    expect(before.end - before.start).toBe(24 * HOUR)
  })

  it('a day whose midnight does not exist starts when the clocks jump past it', () => {
    // Cuba moves from 00:00 to 01:00 on March 8, 2026; Chile on September 6, 2026.
    const havana = zonedWindow('day', at('2026-03-08T12:00:00Z'), 'America/Havana')
    expect(iso(havana)).toEqual(['2026-03-08T05:00:00.000Z', '2026-03-09T04:00:00.000Z'])
    expect(zonedWindow('day', at('2026-03-08T04:59:59.999Z'), 'America/Havana').start).toBe(
      at('2026-03-07T05:00:00Z'),
    )
    const santiago = zonedWindow('day', at('2026-09-06T12:00:00Z'), 'America/Santiago')
    expect(iso(santiago)).toEqual(['2026-09-06T04:00:00.000Z', '2026-09-07T03:00:00.000Z'])
    // The day before keeps all 24 of its hours.
    const saturday = zonedWindow('day', at('2026-09-05T12:00:00Z'), 'America/Santiago')
    expect(iso(saturday)).toEqual(['2026-09-05T04:00:00.000Z', '2026-09-06T04:00:00.000Z'])
  })

  it('weeks start on local Monday, months on the local 1st, across a clock change', () => {
    // Monday 00:30 in Kolkata is still Sunday in UTC: a new local week, the old UTC one.
    const monday = at('2026-06-14T19:00:00Z')
    expect(zonedWindow('week', monday, 'Asia/Kolkata').start).toBe(at('2026-06-14T18:30:00Z'))
    expect(calendarWindow('week', monday).start).toBe(at('2026-06-08T00:00:00Z'))
    const week = zonedWindow('week', at('2026-03-08T12:00:00Z'), 'America/New_York')
    expect(iso(week)).toEqual(['2026-03-02T05:00:00.000Z', '2026-03-09T04:00:00.000Z'])
    expect(week.end - week.start).toBe(7 * 24 * HOUR - HOUR)
    const march = zonedWindow('month', at('2026-03-20T12:00:00Z'), 'America/New_York')
    expect(iso(march)).toEqual(['2026-03-01T05:00:00.000Z', '2026-04-01T04:00:00.000Z'])
    // The evening of March 31 in New York is April 1 in UTC.
    expect(zonedWindow('month', at('2026-04-01T03:00:00Z'), 'America/New_York')).toEqual(march)
    expect(calendarWindow('month', at('2026-04-01T03:00:00Z')).start).toBe(at('2026-04-01T00:00:00Z'))
  })

  it('caches per zone: the same instant in two zones and UTC gives three windows', () => {
    const now = at('2026-06-15T20:00:00Z')
    const kolkata = calendarWindow('day', now, 'Asia/Kolkata').start
    const york = calendarWindow('day', now, 'America/New_York').start
    const utc = calendarWindow('day', now).start
    expect([kolkata, york, utc]).toEqual([
      at('2026-06-15T18:30:00Z'),
      at('2026-06-15T04:00:00Z'),
      at('2026-06-15T00:00:00Z'),
    ])
    expect(calendarWindow('day', now, 'Asia/Kolkata').start).toBe(kolkata)
  })

  it('gives the bounds of the previous, current and next periods', () => {
    expect(zonedBoundaries('day', at('2026-03-08T12:00:00Z'), 'America/New_York')).toEqual([
      at('2026-03-07T05:00:00Z'),
      at('2026-03-08T05:00:00Z'),
      at('2026-03-09T04:00:00Z'),
      at('2026-03-10T04:00:00Z'),
    ])
  })

  it('knows IANA names in any case and nothing else', () => {
    expect(timeZoneName('asia/kolkata')).toMatch(/^Asia\/(Kolkata|Calcutta)$/)
    expect(timeZoneName('Etc/UTC')).toBe('UTC')
    expect(timeZoneName('Mars/Olympus_Mons')).toBeUndefined()
    expect(timeZoneName('')).toBeUndefined()
    expect(timeZoneName(5)).toBeUndefined()
  })
})

describe('rule option timeZone', () => {
  const rule = { name: 'daily', by: 'ip', requests: 2, per: 'day' } as const
  const request = { method: 'GET', path: '/', headers: {}, ip: '192.0.2.1' }

  it('a daily quota resets at local midnight, not at UTC midnight', async () => {
    let now = at('2026-06-15T18:00:00Z') // 23:30 in Kolkata
    const store = memoryStore({ now: () => now })
    const local = createLimiter({ store, rules: [{ ...rule, timeZone: 'Asia/Kolkata' }] })
    const utc = createLimiter({ store, rules: [{ ...rule, name: 'daily-utc' }] })
    for (const limiter of [local, utc]) {
      expect((await limiter.check(request)).allowed).toBe(true)
      expect((await limiter.check(request)).allowed).toBe(true)
    }
    const denied = await local.check(request)
    expect(denied.allowed).toBe(false)
    expect(denied.message).toContain('per day (Asia/Kolkata)')
    expect(denied.message).toContain('It resets in 30m.')
    expect((await utc.check(request)).message).toContain('per day (UTC)')
    now = at('2026-06-15T18:30:00Z')
    expect((await local.check(request)).allowed).toBe(true)
    expect((await utc.check(request)).allowed).toBe(false)
  })

  it('is refused on rolling rules and for unknown zones; UTC by name is UTC', () => {
    const build = (extra: object) => () =>
      createLimiter({ store: memoryStore(), rules: [{ ...rule, ...extra }] })
    expect(build({ per: '1d', timeZone: 'Asia/Kolkata' })).toThrow(
      /`rules\[0\]\.timeZone` applies only to calendar periods/,
    )
    expect(build({ timeZone: 'Asia/Kolkatta' })).toThrow(
      /Expected `rules\[0\]\.timeZone` to be an IANA time zone like 'America\/New_York'.*got "Asia\/Kolkatta"/,
    )
    expect(build({ per: undefined, requests: undefined, concurrent: 2, timeZone: 'UTC' })).toThrow(
      /concurrency rule; remove .*`timeZone`/,
    )
    expect(build({ timeZone: 'utc' })).not.toThrow()
  })
})
