import type { StoreCheck } from '../store/store.js'
import type { AlgorithmImpl } from './algorithm.js'
import { EPSILON, waitUntil } from './algorithm.js'
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
  inspect(entry, check, now, out) {
    const slot = check.windowMs / SLIDING_SLOTS
    const current = Math.floor(now / slot)
    const oldest = current - SLIDING_SLOTS
    const used = usedSince(entry, oldest)
    out.window = current
    out.remaining = Math.max(0, Math.floor(check.limit - used + EPSILON))
    out.resetAt = used > 0 ? (newestUsed(entry, oldest) + SLIDING_SLOTS + 1) * slot : now
    if (check.cost > check.limit) {
      out.allowed = false
      out.retryAfterMs = -1
      return
    }
    out.allowed = check.cost === 0 || used + check.cost <= check.limit + EPSILON
    out.retryAfterMs = out.allowed ? 0 : waitUntil(slotStart(freedAt(entry, check, oldest, used), slot), now)
  },
  charge(entry, check, now, out) {
    const slot = check.windowMs / SLIDING_SLOTS
    const current = Math.floor(now / slot)
    if (entry.tags === undefined || entry.amounts === undefined) {
      entry.tags = new Float64Array(RING).fill(-1)
      entry.amounts = new Float64Array(RING)
    }
    // Brings the running total to this window before a slot is reused.
    usedSince(entry, current - SLIDING_SLOTS)
    const index = slotOf(current)
    if (entry.tags[index] !== current) {
      // The slot is reused for a new sub-window; what it held leaves the running total with it.
      if (entry.tags[index] >= entry.start) entry.count -= entry.amounts[index]
      entry.tags[index] = current
      entry.amounts[index] = 0
    }
    entry.amounts[index] += check.cost
    entry.count += check.cost
    if (current > entry.tat) entry.tat = current
    out.remaining = Math.max(0, out.remaining - check.cost)
    out.resetAt = (current + SLIDING_SLOTS + 1) * slot
  },
  adjust(entry, _check, window, delta) {
    if (entry.tags === undefined || entry.amounts === undefined) return
    const index = slotOf(window)
    if (entry.tags[index] !== window) return
    const amount = Math.max(0, entry.amounts[index] + delta)
    if (window >= entry.start) entry.count += amount - entry.amounts[index]
    entry.amounts[index] = amount
  },
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
function usedSince(entry: Entry, oldest: number): number {
  const { tags, amounts } = entry
  if (tags === undefined || amounts === undefined) return 0
  if (entry.start === oldest) return entry.count
  let used = 0
  for (let i = 0; i < RING; i++) if (tags[i] >= oldest) used += amounts[i]
  entry.start = oldest
  entry.count = used
  return used
}

/** The newest sub-window that holds an amount; usually the one charged last, which `entry.tat` names. */
function newestUsed(entry: Entry, oldest: number): number {
  const { tags, amounts } = entry
  if (tags === undefined || amounts === undefined) return oldest
  const last = entry.tat
  const ring = slotOf(last)
  if (last >= oldest && tags[ring] === last && amounts[ring] > 0) return last
  let newest = oldest
  for (let i = 0; i < RING; i++) if (tags[i] > newest && amounts[i] > 0) newest = tags[i]
  return newest
}

/** The sub-window index at whose start enough old sub-windows have left for `check.cost` to fit. */
function freedAt(entry: Entry, check: StoreCheck, oldest: number, used: number): number {
  const { tags, amounts } = entry
  let left = used
  for (let index = oldest; index <= oldest + SLIDING_SLOTS; index++) {
    const ring = slotOf(index)
    if (tags && amounts && tags[ring] === index) left -= amounts[ring]
    // Sub-window `index` stops counting once `index + SLIDING_SLOTS + 1` begins.
    if (left + check.cost <= check.limit + EPSILON) return index + SLIDING_SLOTS + 1
  }
  return oldest + 2 * SLIDING_SLOTS + 1
}
