import type { Entry } from '../algorithms/entry.js'
import { fixedWindowBounds } from '../algorithms/fixed-window.js'
import { SLIDING_SLOTS, usedSince } from '../algorithms/sliding-window.js'
import type { DebtTable } from './debt-table.js'
import type { StoreAlgorithm, StoreCheck } from './store.js'

/** Mixed into a summary's hash, so a rule reloaded with another algorithm never reads the old one's numbers. */
const KINDS: Readonly<Record<StoreAlgorithm, number>> = {
  'token-bucket': 1,
  'sliding-window': 2,
  'fixed-window': 3,
  concurrency: 4,
}

/**
 * Share of its limit (burst, for a token bucket) that a key still owes at `now`: 0 when forgetting
 * it gives nothing back, 1 when it is used up. Concurrency leases are never summarised (see `holdsLease`).
 */
export function owedShare(entry: Entry, check: StoreCheck, now: number): number {
  switch (check.algorithm) {
    case 'token-bucket':
      return entry.tat > now ? (entry.tat - now) / (check.windowMs / check.limit) / check.burst : 0
    case 'fixed-window': {
      if (!(entry.count > 0)) return 0
      // Rolling windows are computed in place: eviction reads this for every group it passes.
      const start = check.calendar
        ? fixedWindowBounds(check, now).start
        : Math.floor(now / check.windowMs) * check.windowMs
      return entry.start === start ? entry.count / check.limit : 0
    }
    case 'sliding-window': {
      const used = usedSince(entry, Math.floor(now / (check.windowMs / SLIDING_SLOTS)) - SLIDING_SLOTS)
      return used / check.limit
    }
    default:
      return 0
  }
}

/** True while a concurrency key holds a lease that has not expired: such a key is never forgotten. */
export function holdsLease(entry: Entry, now: number): boolean {
  const leases = entry.leases
  if (leases === undefined || leases.size === 0) return false
  for (const expiresAt of leases.values()) if (expiresAt > now) return true
  return false
}

/**
 * Writes what a key about to be forgotten still owes into `table`: a token bucket's theoretical
 * arrival time, a fixed window's start and count, a sliding window's total with the newest
 * sub-window that holds an amount. Nothing when it owes nothing.
 */
export function remember(
  table: DebtTable,
  group: string,
  name: string,
  entry: Entry,
  check: StoreCheck,
  now: number,
): void {
  const share = owedShare(entry, check, now)
  if (!(share > 0)) return
  const kind = KINDS[check.algorithm]
  switch (check.algorithm) {
    case 'token-bucket':
      table.put(group, name, kind, entry.tat, 0, entry.tat, share, now)
      return
    case 'fixed-window':
      table.put(group, name, kind, entry.start, entry.count, windowEnd(entry, check, now), share, now)
      return
    case 'sliding-window': {
      const slot = check.windowMs / SLIDING_SLOTS
      const used = usedSince(entry, Math.floor(now / slot) - SLIDING_SLOTS)
      // Owed whole until the newest sub-window holding an amount leaves the window: never less than the truth.
      table.put(group, name, kind, entry.tat, used, (entry.tat + SLIDING_SLOTS + 1) * slot, share, now)
      return
    }
  }
}

/**
 * Gives a key created afresh what its forgotten self still owed, from `table`: exactly for a token
 * bucket or a fixed window; a sliding window counts its whole remembered total in its newest
 * sub-window, so it is freed at the latest when the truth would be.
 */
export function restore(
  table: DebtTable,
  group: string,
  name: string,
  entry: Entry,
  check: StoreCheck,
  now: number,
): void {
  const slot = table.take(group, name, KINDS[check.algorithm], now)
  if (slot < 0) return
  switch (check.algorithm) {
    case 'token-bucket':
      entry.tat = table.firstAt(slot)
      return
    case 'fixed-window':
      entry.start = table.firstAt(slot)
      entry.count = table.secondAt(slot)
      return
    case 'sliding-window':
      entry.tat = table.firstAt(slot)
      entry.head = table.secondAt(slot)
      return
  }
}

/** End (epoch ms) of the fixed window a live entry counts in. */
function windowEnd(entry: Entry, check: StoreCheck, now: number): number {
  return check.calendar ? fixedWindowBounds(check, now).end : entry.start + check.windowMs
}
