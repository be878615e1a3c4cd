import type { StoreCheck, StoreCheckResult } from '../store/store.js'
import type { Entry } from './entry.js'

/** Tolerance for float comparisons of times and amounts, far below one ms or one unit. */
export const EPSILON = 1e-6

/**
 * One counting algorithm over an `Entry`. `inspect` never mutates; `charge` runs only when every
 * check of the decision admitted, which is how a decision stays all-or-nothing.
 */
export interface AlgorithmImpl {
  /** Fills `out` with the state before charging: allowed, remaining, resetAt, retryAfterMs, window. */
  inspect(entry: Entry, check: StoreCheck, now: number, out: StoreCheckResult): void
  /** Takes `check.cost`, then updates `out` (as `inspect` filled it for this same `now`) to the charged state. */
  charge(entry: Entry, check: StoreCheck, now: number, out: StoreCheckResult, leaseId: string): void
  /** Adds `delta` in the window identified by `window`; a refund never leaves more than a full allowance. */
  adjust(entry: Entry, check: StoreCheck, window: number, delta: number, now: number, leaseId: string): void
}

/** Ms to wait until `at`, rounded up so a client that waits exactly that long is admitted. */
export function waitUntil(at: number, now: number): number {
  return Math.max(1, Math.ceil(at - now - EPSILON))
}
