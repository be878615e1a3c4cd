import {
  createLimiter,
  type Limiter,
  type LimiterOptions,
  LlmLimitError,
  memoryStore,
  type Store,
} from '@llm-limit/core'
import { type FakeClock, fakeClock } from './fake-clock.js'

/** A store that can forget every key, as `memoryStore()` can. */
interface ClearableStore extends Store {
  clear(): void | Promise<void>
}

const clearable = (store: Store): store is ClearableStore =>
  typeof (store as Partial<ClearableStore>).clear === 'function'

/**
 * Forgets everything a limiter (or a store) has counted, so the next test starts from full limits;
 * call it in `beforeEach`. Works with any store that has a `clear()` method, as `memoryStore()` does.
 * @example
 * beforeEach(() => resetLimiter(limiter))
 */
export async function resetLimiter(target: Limiter | Store): Promise<void> {
  const store = 'check' in target && 'store' in target ? target.store : (target as Store)
  if (store === null || typeof store !== 'object' || typeof store.consume !== 'function')
    throw new LlmLimitError(
      'ERR_CONFIG',
      'Expected `resetLimiter(target)` to be given a limiter from createLimiter() or a store, got something else.',
    )
  if (!clearable(store))
    throw new LlmLimitError(
      'ERR_CONFIG',
      `The store '${store.name}' has no clear() method, so resetLimiter() cannot empty it. Give each test a fresh store (or a Redis store with its own \`prefix\`), or use testLimiter(), which builds a fresh memory store per call.`,
    )
  await store.clear()
}

/** A limiter for one test, on its own memory store driven by a fake clock. */
export interface TestLimiter {
  /** The limiter, built from the options given with a fresh memory store. */
  readonly limiter: Limiter
  /** The clock of its store: `clock.advance('1m')` moves the limits' time. */
  readonly clock: FakeClock
  /** Forgets every count (the clock stays where it is). */
  reset(): Promise<void>
}

/**
 * Builds a limiter on a fresh memory store whose time is a fake clock, for one test.
 * @example
 * const { limiter, clock } = testLimiter({ rules: [{ by: 'ip', requests: 2, per: '1m' }] })
 */
export function testLimiter(options: Omit<LimiterOptions, 'store'> = {}, start?: number | Date): TestLimiter {
  if ('store' in options)
    throw new LlmLimitError(
      'ERR_CONFIG',
      'testLimiter() builds its own memory store on a fake clock; leave out `store` (or use createLimiter() with resetLimiter()).',
    )
  const clock = fakeClock(start)
  const limiter = createLimiter({ ...options, store: memoryStore({ now: clock.now }) })
  return { limiter, clock, reset: () => resetLimiter(limiter) }
}
