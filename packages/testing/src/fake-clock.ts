import { LlmLimitError, parseWindow } from '@llm-limit/core'

/** A clock that moves only when told to; pass `clock.now` to `memoryStore({ now })`. */
export interface FakeClock {
  /** The current time in epoch milliseconds (a bound function: pass it around as is). */
  readonly now: () => number
  /** Moves the clock forward by milliseconds or a duration like '1m'; returns the new time. */
  advance(by: number | string): number
  /** Sets the clock to an instant (epoch ms or a Date); it may not go backwards. */
  set(to: number | Date): number
}

/** The default start: a Monday, mid-month, noon UTC, far from every calendar boundary. */
export const FAKE_CLOCK_START = Date.UTC(2026, 5, 15, 12)

/**
 * Creates a fake clock starting at `start` (epoch ms or a Date).
 * @example
 * const clock = fakeClock()
 * const limiter = createLimiter({ store: memoryStore({ now: clock.now }), rules })
 * clock.advance('1m')
 */
export function fakeClock(start: number | Date = FAKE_CLOCK_START): FakeClock {
  let current = instant(start, 'fakeClock(start)')
  return {
    now: () => current,
    advance(by) {
      const ms = typeof by === 'string' ? durationMs(by) : by
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
        throw new LlmLimitError(
          'ERR_CONFIG',
          `Expected \`clock.advance(by)\` to be a finite number of milliseconds >= 0 or a duration like '1m', got ${describe(by)}.`,
        )
      current += ms
      return current
    },
    set(to) {
      const next = instant(to, 'clock.set(to)')
      if (next < current)
        throw new LlmLimitError(
          'ERR_CONFIG',
          `\`clock.set(to)\` may not move the clock backwards (from ${new Date(current).toISOString()} to ${new Date(next).toISOString()}); stores assume time never goes back. Create a new fakeClock() instead.`,
        )
      current = next
      return current
    },
  }
}

function durationMs(text: string): number {
  const window = parseWindow(text, 'clock.advance(by)')
  if (window.kind === 'rolling') return window.ms
  throw new LlmLimitError(
    'ERR_CONFIG',
    `\`clock.advance(by)\` takes a length of time like '1d', not the calendar period '${window.period}'; use clock.set(new Date(...)) to reach a calendar boundary.`,
  )
}

function instant(value: unknown, where: string): number {
  const ms = value instanceof Date ? value.getTime() : value
  if (typeof ms !== 'number' || !Number.isFinite(ms))
    throw new LlmLimitError(
      'ERR_CONFIG',
      `Expected \`${where}\` to be epoch milliseconds or a valid Date, got ${describe(value)}.`,
    )
  return ms
}

const describe = (value: unknown): string =>
  typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : String(value)
