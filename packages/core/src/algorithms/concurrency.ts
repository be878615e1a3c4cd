import type { AlgorithmImpl } from './algorithm.js'
import { Field } from './algorithm.js'

/**
 * Concurrency leases: a set of lease ids with expiry times. A lease is released by id, and one left
 * behind by a crashed process expires after `windowMs` (the lease time-to-live).
 */
export const concurrency: AlgorithmImpl = {
  inspect(entry, check, now, out, at) {
    const leases = entry.leases
    let earliest = Number.POSITIVE_INFINITY
    let latest = now
    if (leases !== undefined) {
      for (const [id, expiresAt] of leases) {
        if (expiresAt <= now) leases.delete(id)
        else {
          if (expiresAt < earliest) earliest = expiresAt
          if (expiresAt > latest) latest = expiresAt
        }
      }
    }
    const held = leases?.size ?? 0
    out[at + Field.Window] = 0
    out[at + Field.Remaining] = Math.max(0, check.limit - held)
    out[at + Field.ResetAt] = latest
    if (check.cost > check.limit) {
      out[at + Field.Allowed] = 0
      out[at + Field.RetryAfterMs] = -1
      return
    }
    const allowed = check.cost === 0 || held + check.cost <= check.limit
    out[at + Field.Allowed] = allowed ? 1 : 0
    // The store only knows when the oldest lease expires; the engine shortens this with observed durations.
    out[at + Field.RetryAfterMs] = allowed ? 0 : Math.max(1, Math.ceil(earliest - now))
  },
  charge(entry, check, now, out, at, leaseId) {
    if (check.cost === 0) return
    entry.leases ??= new Map()
    entry.leases.set(leaseId, now + check.windowMs)
    out[at + Field.Remaining] = Math.max(0, out[at + Field.Remaining] - 1)
    if (now + check.windowMs > out[at + Field.ResetAt]) out[at + Field.ResetAt] = now + check.windowMs
  },
  adjust(entry, _check, _window, delta, _now, leaseId) {
    if (delta < 0) entry.leases?.delete(leaseId)
  },
}
