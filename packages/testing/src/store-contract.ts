import type { Store, StoreAlgorithm, StoreCheck } from '@llm-limit/core'
import { describe, expect, it } from 'vitest'

/** How a contract run controls time: a fake clock (memory) or the real one (Redis TIME). */
export interface ContractSetup {
  store: Store
  /** Advances the store's clock by `ms` (for real clocks, waits). */
  advance(ms: number): Promise<void>
}

let sequence = 0
const id = () => `contract-${process.pid}-${++sequence}`

/**
 * Waits out the end of the current aligned `windowMs` window when less than 2 s of it is left, so a scenario of
 * several calls reads one fixed window (a boundary crossed between its steps would start the counts afresh).
 */
async function clearOfBoundary(windowMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs)
  if (left < 2000) await new Promise((resolve) => setTimeout(resolve, left + 100))
}

const check = (
  group: string,
  rule: string,
  algorithm: StoreAlgorithm,
  limit: number,
  windowMs: number,
  extra: Partial<StoreCheck> = {},
): StoreCheck => ({
  key: `${rule}:${group}`,
  group,
  rule,
  algorithm,
  limit,
  burst: limit,
  windowMs,
  cost: 1,
  ...extra,
})

/** What a store can do; a store without a capability must refuse it with a clear error instead. */
export interface ContractCapabilities {
  /** Holds concurrency leases (`concurrent` rules). @default true */
  concurrency?: boolean
}

/**
 * Registers, in the calling vitest file, the behaviour every store must share; `setup` gives a
 * fresh store per test and a way to move its time.
 * @example
 * storeContract('my store', async () => {
 *   const clock = fakeClock()
 *   return { store: myStore({ now: clock.now }), advance: async (ms) => void clock.advance(ms) }
 * })
 */
export function storeContract(
  name: string,
  setup: () => ContractSetup | Promise<ContractSetup>,
  capabilities: ContractCapabilities = {},
): void {
  if (typeof name !== 'string' || name.trim() === '')
    throw new TypeError('Expected `storeContract(name, setup)` to be given a non-empty name for the suite.')
  if (typeof setup !== 'function')
    throw new TypeError(
      'Expected `storeContract(name, setup)` to be given a function that returns { store, advance } for each test.',
    )
  const given = setup
  setup = async () => {
    const result = await given()
    if (
      typeof result?.store?.consume !== 'function' ||
      typeof result.store.adjust !== 'function' ||
      typeof result.advance !== 'function'
    )
      throw new TypeError(
        `storeContract('${name}'): setup() must return { store, advance }, where store has consume() and adjust() and advance(ms) moves the store's time; got ${result === null || typeof result !== 'object' ? String(result) : `an object with keys ${Object.keys(result).join(', ') || '(none)'}`}.`,
      )
    return result
  }
  describe(`store contract: ${name}`, () => {
    const unique = () => `g-${Math.random().toString(36).slice(2)}`

    it.each(['token-bucket', 'sliding-window', 'fixed-window'] as const)(
      '%s admits up to the limit, then denies with a wait',
      async (algorithm) => {
        const { store } = await setup()
        const c = check(unique(), 'r', algorithm, 3, 60_000)
        for (let i = 0; i < 3; i++) expect((await store.consume([c], { requestId: id() })).allowed).toBe(true)
        const denied = await store.consume([c], { requestId: id() })
        expect(denied.allowed).toBe(false)
        expect(denied.results[0].remaining).toBe(0)
        expect(denied.results[0].retryAfterMs).toBeGreaterThan(0)
        // The sliding window counts a sub-window (a tenth) conservatively: never admits early.
        expect(denied.results[0].retryAfterMs).toBeLessThanOrEqual(
          algorithm === 'sliding-window' ? 66_000 : 60_000,
        )
      },
    )

    it('a calendar month ends at the first of the next month (UTC)', async () => {
      const { store } = await setup()
      const result = await store.consume(
        [check(unique(), 'm', 'fixed-window', 5, 0, { calendar: 'month' })],
        { requestId: id() },
      )
      const now = new Date(result.now)
      expect(result.results[0].resetAt).toBe(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1))
      expect(result.results[0].window).toBe(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))
    })

    it('a calendar day with a time zone ends at the next local midnight (Asia/Kolkata, UTC+5:30)', async () => {
      const { store } = await setup()
      const group = unique()
      const zoned = check(group, 'd', 'fixed-window', 5, 0, { calendar: 'day', timeZone: 'Asia/Kolkata' })
      let result = await store.consume([zoned], { requestId: id() })
      result = await store.consume([zoned], { requestId: id() })
      const offset = 5.5 * 3_600_000
      const start = Math.floor((result.now + offset) / 86_400_000) * 86_400_000 - offset
      expect(result.results[0]).toMatchObject({ remaining: 3, window: start, resetAt: start + 86_400_000 })
      // The same key counted by UTC days is another window (its start differs), so it starts afresh.
      const utc = await store.consume([{ ...zoned, timeZone: undefined }], { requestId: id() })
      expect(utc.results[0].window).toBe(Math.floor(utc.now / 86_400_000) * 86_400_000)
      expect(utc.results[0].remaining).toBe(4)
    })

    it('is all-or-nothing: a denial by the third check leaves the first two as they were', async () => {
      const { store } = await setup()
      await clearOfBoundary(60_000)
      const group = unique()
      const checks = [
        check(group, 'a', 'token-bucket', 10, 60_000),
        check(group, 'b', 'sliding-window', 10, 60_000),
        check(group, 'c', 'fixed-window', 1, 60_000),
      ]
      expect((await store.consume(checks, { requestId: id() })).allowed).toBe(true)
      const denied = await store.consume(checks, { requestId: id() })
      expect(denied.allowed).toBe(false)
      expect(denied.results.map((r) => r.remaining)).toEqual([9, 9, 0])
      const peek = await store.consume(
        checks.map((c) => ({ ...c, cost: 0 })),
        { requestId: id() },
      )
      expect(peek.results.map((r) => r.remaining)).toEqual([9, 9, 0])
    })

    it('concurrent decisions are each exact and all-or-nothing', async () => {
      const { store } = await setup()
      await clearOfBoundary(60_000)
      const group = unique()
      const checks = [
        check(group, 'wide', 'fixed-window', 100, 60_000),
        check(group, 'narrow', 'fixed-window', 5, 60_000),
      ]
      // Sent together: a store that batches them (Redis) must still decide each one on its own.
      const decisions = await Promise.all(
        Array.from({ length: 20 }, () => store.consume(checks, { requestId: id() })),
      )
      let admitted = 0
      for (const decision of decisions) if (decision.allowed) admitted++
      expect(admitted).toBe(5)
      const peek = await store.consume(
        checks.map((c) => ({ ...c, cost: 0 })),
        { requestId: id() },
      )
      expect(peek.results.map((r) => r.remaining)).toEqual([95, 0])
    })

    it('is all-or-nothing across identities (hash slots)', async () => {
      const { store } = await setup()
      await clearOfBoundary(60_000)
      const checks = [
        check(unique(), 'a', 'fixed-window', 10, 60_000),
        check(unique(), 'b', 'fixed-window', 10, 60_000),
        check(unique(), 'c', 'fixed-window', 1, 60_000),
      ]
      expect((await store.consume(checks, { requestId: id() })).allowed).toBe(true)
      expect((await store.consume(checks, { requestId: id() })).allowed).toBe(false)
      const peek = await store.consume(
        checks.map((c) => ({ ...c, cost: 0 })),
        { requestId: id() },
      )
      expect(peek.results.map((r) => r.remaining)).toEqual([9, 9, 0])
    })

    it.each(['token-bucket', 'sliding-window', 'fixed-window'] as const)(
      '%s: adjust refunds and charges in the same window',
      async (algorithm) => {
        const { store } = await setup()
        // A day's window: a token bucket refills one unit per 86 s, so a slow run cannot add one between steps.
        const c = check(unique(), 't', algorithm, 1000, 86_400_000, { cost: 300 })
        const first = await store.consume([c], { requestId: id() })
        expect(first.results[0].remaining).toBe(700)
        await store.adjust([{ check: c, window: first.results[0].window, delta: -200 }], { requestId: id() })
        const peek = await store.consume([{ ...c, cost: 0 }], { requestId: id() })
        expect(peek.results[0].remaining).toBe(900)
        await store.adjust([{ check: c, window: first.results[0].window, delta: 50 }], { requestId: id() })
        expect((await store.consume([{ ...c, cost: 0 }], { requestId: id() })).results[0].remaining).toBe(850)
      },
    )

    if (capabilities.concurrency === false) {
      it('refuses concurrency leases with an error that says so, and charges nothing', async () => {
        const { store } = await setup()
        const group = unique()
        const lease = check(group, 'p', 'concurrency', 2, 60_000)
        const requests = check(group, 'r', 'fixed-window', 5, 60_000)
        await expect(store.consume([requests, lease], { requestId: id() })).rejects.toThrow(/concurrenc/i)
        const peek = await store.consume([{ ...requests, cost: 0 }], { requestId: id() })
        expect(peek.results[0].remaining).toBe(5)
      })
    } else {
      it('concurrency leases are taken, denied at the limit, and released by id', async () => {
        const { store } = await setup()
        const c = check(unique(), 'p', 'concurrency', 2, 60_000)
        const a = id()
        expect((await store.consume([c], { requestId: a })).allowed).toBe(true)
        expect((await store.consume([c], { requestId: id() })).allowed).toBe(true)
        expect((await store.consume([c], { requestId: id() })).allowed).toBe(false)
        await store.adjust([{ check: c, window: 0, delta: -1 }], { requestId: a })
        expect((await store.consume([c], { requestId: id() })).allowed).toBe(true)
      })
    }

    it('says when a cost can never fit', async () => {
      const { store } = await setup()
      const result = await store.consume(
        [check(unique(), 'big', 'token-bucket', 100, 60_000, { cost: 101 })],
        { requestId: id() },
      )
      expect(result.allowed).toBe(false)
      expect(result.results[0].retryAfterMs).toBe(-1)
    })

    it.each(['token-bucket', 'sliding-window', 'fixed-window'] as const)(
      '%s: waiting retryAfterMs is enough',
      async (algorithm) => {
        const { store, advance } = await setup()
        const c = check(unique(), 'w', algorithm, 2, 400)
        await store.consume([c], { requestId: id() })
        await store.consume([c], { requestId: id() })
        const denied = await store.consume([c], { requestId: id() })
        expect(denied.allowed).toBe(false)
        await advance(denied.results[0].retryAfterMs)
        expect((await store.consume([c], { requestId: id() })).allowed).toBe(true)
      },
    )

    it.each(['token-bucket', 'sliding-window', 'fixed-window'] as const)(
      '%s: an adjustment after its window has passed changes nothing',
      async (algorithm) => {
        const { store, advance } = await setup()
        const c = check(unique(), 'late', algorithm, 5, 1000, { cost: 3 })
        const first = await store.consume([c], { requestId: id() })
        expect(first.results[0].remaining).toBe(2)
        // Past every trace of the charge: a refund now must not open the next window with extra room.
        await advance(Math.max(first.results[0].resetAt - first.now, 1000) + 100)
        await store.adjust([{ check: c, window: first.results[0].window, delta: -3 }], { requestId: id() })
        const peek = await store.consume([{ ...c, cost: 0 }], { requestId: id() })
        expect(peek.results[0].remaining).toBe(5)
        for (let i = 0; i < 5; i++) await store.consume([{ ...c, cost: 1 }], { requestId: id() })
        expect((await store.consume([{ ...c, cost: 1 }], { requestId: id() })).allowed).toBe(false)
      },
    )
  })
}
