import type { AlgorithmImpl } from './algorithm.js'

/**
 * Concurrency leases: a set of lease ids with expiry times. A lease is released by id, and one left
 * behind by a crashed process expires after `windowMs` (the lease time-to-live).
 */
export const concurrency: AlgorithmImpl = {
  inspect(entry, check, now, out) {
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
    out.window = 0
    out.remaining = Math.max(0, check.limit - held)
    out.resetAt = latest
    if (check.cost > check.limit) {
      out.allowed = false
      out.retryAfterMs = -1
      return
    }
    out.allowed = check.cost === 0 || held + check.cost <= check.limit
    // The store only knows when the oldest lease expires; the engine shortens this with observed durations.
    out.retryAfterMs = out.allowed ? 0 : Math.max(1, Math.ceil(earliest - now))
  },
  charge(entry, check, now, out, leaseId) {
    if (check.cost === 0) return
    entry.leases ??= new Map()
    entry.leases.set(leaseId, now + check.windowMs)
    out.remaining = Math.max(0, out.remaining - 1)
    if (now + check.windowMs > out.resetAt) out.resetAt = now + check.windowMs
  },
  adjust(entry, _check, _window, delta, _now, leaseId) {
    if (delta < 0) entry.leases?.delete(leaseId)
  },
}
