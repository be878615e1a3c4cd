import { exactDoubles } from '../doubles.js'
import type { StoreCheck } from '../store/store.js'
import type { AlgorithmImpl } from './algorithm.js'
import { EPSILON, Field, waitUntil } from './algorithm.js'
import type { Entry } from './entry.js'

/** Sub-windows per window; the window is counted `windowMs / SLIDING_SLOTS` too long at worst, never too short. */
export const SLIDING_SLOTS = 10
const RING = SLIDING_SLOTS + 1

/**
 * Sliding window over sub-windows: a sub-window counts until it has entirely left the rolling
 * window. Unlike the two-counter approximation, this never admits more than the limit in ANY
 * rolling window of `windowMs`, and it keeps only SLIDING_SLOTS + 1 numbers per key.
 */
export const slidingWindow: AlgorithmImpl = {
  inspect(entry, check, now, out, at) {
    const slot = check.windowMs / SLIDING_SLOTS
    const current = Math.floor(now / slot)
    const oldest = current - SLIDING_SLOTS
    // The total kept for the oldest sub-window still counted is usually the current one.
    const used = entry.start === oldest ? entry.count : usedSince(entry, oldest)
    out[at + Field.Window] = current
    out[at + Field.Remaining] = Math.max(0, Math.floor(check.limit - used + EPSILON))
    // Anything counted lies in the newest sub-window holding an amount (`entry.tat`) or before it.
    out[at + Field.ResetAt] = used > 0 ? (entry.tat + SLIDING_SLOTS + 1) * slot : now
    if (check.cost > check.limit) {
      out[at + Field.Allowed] = 0
      out[at + Field.RetryAfterMs] = -1
      return
    }
    const allowed = check.cost === 0 || used + check.cost <= check.limit + EPSILON
    out[at + Field.Allowed] = allowed ? 1 : 0
    out[at + Field.RetryAfterMs] = allowed
      ? 0
      : waitUntil(slotStart(freedAt(entry, check, oldest, used), slot), now)
  },
  charge(entry, check, _now, out, at) {
    const cost = check.cost
    if (cost === 0) return
    // `inspect` just found the sub-window for this same `now`.
    const current = out[at + Field.Window]
    const oldest = current - SLIDING_SLOTS
    if (entry.start !== oldest) usedSince(entry, oldest)
    if (current === entry.tat) entry.head += cost
    else if (current > entry.tat) {
      // A new newest sub-window: the previous one's amount moves to the ring.
      spillHead(entry)
      entry.tat = current
      entry.head = cost
    } else addToRing(entry, current, cost)
    entry.count += cost
    out[at + Field.Remaining] = Math.max(0, out[at + Field.Remaining] - cost)
    out[at + Field.ResetAt] = (entry.tat + SLIDING_SLOTS + 1) * (check.windowMs / SLIDING_SLOTS)
  },
  adjust(entry, _check, window, delta) {
    // Refunds are rare: with the head in the ring, every amount lives in one place.
    spillHead(entry)
    const ring = entry.ring
    if (ring === undefined) return
    const index = 2 * slotOf(window)
    if (ring[index] !== window) return
    const amount = Math.max(0, ring[index + 1] + delta)
    if (window >= entry.start) entry.count += amount - ring[index + 1]
    ring[index + 1] = amount
    if (amount > 0 && window > entry.tat) entry.tat = window
    else if (amount === 0 && window === entry.tat) entry.tat = newestUsed(ring)
  },
}

/** Moves the head's amount into the ring slot of sub-window `tat`. */
function spillHead(entry: Entry): void {
  if (entry.head === 0) return
  const head = entry.head
  entry.head = 0
  addToRing(entry, entry.tat, head)
}

/** Adds `amount` to sub-window `index` in the ring; `entry.count` is the caller's to update. */
function addToRing(entry: Entry, index: number, amount: number): void {
  entry.ring ??= newRing()
  const ring = entry.ring
  const at = 2 * slotOf(index)
  if (ring[at] !== index) {
    // The slot held a sub-window that has left the rolling window: reuse it.
    if (ring[at] >= entry.start) entry.count -= ring[at + 1]
    ring[at] = index
    ring[at + 1] = 0
  }
  ring[at + 1] += amount
}

/** An empty ring: every slot holds sub-window -1 (none), with nothing taken; each key keeps one, of its 22 numbers alone. */
function newRing(): number[] {
  const ring = exactDoubles(2 * RING)
  for (let i = 0; i < 2 * RING; i += 2) ring[i] = -1
  return ring
}

/** Ring slot of a sub-window index; floor arithmetic, since `%` on indices beyond int32 is a slow float modulo. */
function slotOf(index: number): number {
  return index - Math.floor(index / RING) * RING
}

/** Epoch ms at which sub-window `index` has begun, robust to float rounding of `index * slot`. */
function slotStart(index: number, slot: number): number {
  let at = index * slot
  while (Math.floor(at / slot) < index) at += 0.001
  return at
}

/**
 * Amount in sub-windows from `oldest` on. `entry.count` keeps this total for `entry.start`, so it is
 * summed again only when the window has moved on to a new sub-window (or the clock went back).
 */
export function usedSince(entry: Entry, oldest: number): number {
  if (entry.start === oldest) return entry.count
  const ring = entry.ring
  let used = entry.tat >= oldest ? entry.head : 0
  if (ring !== undefined) for (let i = 0; i < 2 * RING; i += 2) if (ring[i] >= oldest) used += ring[i + 1]
  entry.start = oldest
  entry.count = used
  return used
}

/** The newest sub-window that holds an amount, or -1 when none does. */
function newestUsed(ring: readonly number[]): number {
  let newest = -1
  for (let i = 0; i < 2 * RING; i += 2) if (ring[i] > newest && ring[i + 1] > 0) newest = ring[i]
  return newest
}

/** The sub-window index at whose start enough old sub-windows have left for `check.cost` to fit. */
function freedAt(entry: Entry, check: StoreCheck, oldest: number, used: number): number {
  const ring = entry.ring
  let left = used
  for (let index = oldest; index <= oldest + SLIDING_SLOTS; index++) {
    const at = 2 * slotOf(index)
    if (ring !== undefined && ring[at] === index) left -= ring[at + 1]
    if (index === entry.tat) left -= entry.head
    // Sub-window `index` stops counting once `index + SLIDING_SLOTS + 1` begins.
    if (left + check.cost <= check.limit + EPSILON) return index + SLIDING_SLOTS + 1
  }
  return oldest + 2 * SLIDING_SLOTS + 1
}
