import { calendarWindow, type StoreCheck, zonedBoundaries } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { UNDO_LUA } from '../packages/redis/src/lua.js'
import { type RedisProcess, ready, redisClient, startRedis } from './support/redis-servers.js'

/** Zoned calendar windows on Redis: counted by Redis TIME, whatever the app's clock says. */
let server: RedisProcess
let client: Redis
beforeAll(async () => {
  server = await startRedis()
  client = redisClient(server.port)
  await ready(client)
})
afterAll(async () => {
  client?.disconnect()
  await server?.stop()
})
afterEach(() => {
  vi.restoreAllMocks()
})

const HOUR = 3_600_000
const ZONE = 'Asia/Kolkata'
const redisNow = async () => {
  const [seconds, micros] = await client.time()
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
}

describe('time-zone periods on Redis', () => {
  it('app clocks 20 h behind, 30 s off or 20 h ahead all charge the one local day that holds Redis TIME', async () => {
    const store = redisStore({ client, prefix: `tz-skew-${Date.now()}:` })
    const check: StoreCheck = {
      key: 'daily:g',
      group: 'g',
      rule: 'daily',
      algorithm: 'fixed-window',
      limit: 100,
      burst: 100,
      windowMs: 0,
      calendar: 'day',
      timeZone: ZONE,
      cost: 1,
    }
    const real = Date.now.bind(Date)
    const skews = [-20 * HOUR, -30_000, 0, 30_000, 20 * HOUR]
    const windows: number[] = []
    const own: number[] = []
    let n = 0
    for (const skew of skews) {
      vi.spyOn(Date, 'now').mockImplementation(() => real() + skew)
      const result = await store.consume([check], { requestId: `skew-${++n}` })
      vi.restoreAllMocks()
      expect(result.allowed).toBe(true)
      expect(result.results[0].remaining).toBe(100 - n)
      windows.push(result.results[0].window)
      own.push(calendarWindow('day', result.now + skew, ZONE).start)
      // The window is the Kolkata day of Redis's clock: 18:30 UTC the day before.
      const start = Math.floor((result.now + 5.5 * HOUR) / (24 * HOUR)) * 24 * HOUR - 5.5 * HOUR
      expect(result.results[0]).toMatchObject({ window: start, resetAt: start + 24 * HOUR })
    }
    expect(new Set(windows).size).toBe(1)
    // Negative control: by their own clocks the skewed apps are in another local day (one of ±20 h always is).
    expect(new Set(own).size).toBeGreaterThan(1)
    await store.close?.()
  })

  it('an undo applies only in the zoned window the charge was made in; a charge before the bounds sent changes nothing', async () => {
    const prefix = `tz-undo-${Date.now()}`
    const now = await redisNow()
    const [b0, b1, b2, b3] = zonedBoundaries('day', now, ZONE)
    const zone = [b0, b1, b2, b3].join(',')
    const ttl = 600_000
    const base = `${prefix}:rec`
    const undo = async (stamp: number) => {
      const key = `${prefix}:state:${stamp}`
      const id = `id-${stamp}`
      await client.hset(key, 's', b1, 'c', 5)
      await client.hset(`${base}:${Math.floor((await redisNow()) / ttl)}`, id, String(stamp))
      await client.eval(UNDO_LUA, 2, key, base, ttl, id, 1, 1, 3, 10, 0, zone, 2)
      return Number(await client.hget(key, 'c'))
    }
    // Charged now, in the current local day: the undo gives the 2 back.
    expect(await undo(now)).toBe(3)
    // Charged yesterday (local), or before every bound sent: that window is gone, nothing is taken back.
    expect(await undo(b0 + HOUR)).toBe(5)
    expect(await undo(b0 - HOUR)).toBe(5)
    expect(b3).toBeGreaterThan(b2)
  })
})
