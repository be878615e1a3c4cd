import type { StoreCheck } from '../store/store.js'
import type { Entry } from './entry.js'

/** Tolerance for float comparisons of times and amounts, far below one ms or one unit. */
export const EPSILON = 1e-6

/**
 * Where an algorithm writes one check's result: the `StoreCheckResult` fields as numbers from `at`
 * in an array (`PackedOutcome`'s layout), `allowed` as 1 or 0. A store packs a decision's results
 * into one array of doubles with no copy, and a number written there is never boxed. An enum,
 * which the bundler turns into constant offsets.
 */
export enum Field {
  Allowed = 0,
  Remaining = 1,
  ResetAt = 2,
  RetryAfterMs = 3,
  Window = 4,
}

/**
 * One counting algorithm over an `Entry`. `inspect` never mutates; `charge` runs only when every
 * check of the decision admitted, which is how a decision stays all-or-nothing.
 */
export interface AlgorithmImpl {
  /** Writes the state before charging at `out[at + Field.Allowed …]`: allowed, remaining, resetAt, retryAfterMs, window. */
  inspect(entry: Entry, check: StoreCheck, now: number, out: number[], at: number): void
  /** Takes `check.cost`, then updates the result `inspect` wrote at `at` for this same `now` to the charged state. */
  charge(entry: Entry, check: StoreCheck, now: number, out: number[], at: number, leaseId: string): void
  /** Adds `delta` in the window identified by `window`; a refund never leaves more than a full allowance. */
  adjust(entry: Entry, check: StoreCheck, window: number, delta: number, now: number, leaseId: string): void
}

/** Ms to wait until `at`, rounded up so a client that waits exactly that long is admitted. */
export function waitUntil(at: number, now: number): number {
  return Math.max(1, Math.ceil(at - now - EPSILON))
}
