import type { Policy, QuotaUnit } from './parse-rate-limit-headers.js'

/** What a call costs in each unit. */
export type Costs = Record<QuotaUnit, number>

/** A call the guard let through, until its response comes back. */
export interface Flight {
  readonly costs: Costs
  /** The epoch of each budget when the call was sent: an answer from an older epoch is stale. */
  readonly epochs: Map<QuotaBudget, number>
}

/**
 * One quota as the provider reports it (OpenAI's requests, Anthropic's input tokens, a daily
 * IETF policy…): what is left of it in the current window and when the window resets. Within a
 * window what is left only goes down (answers may arrive out of order); at the reset it is the
 * whole limit again, less what is still in flight and may land in the new window.
 */
export class QuotaBudget {
  /** The provider's limit, when it says. */
  limit: number | undefined
  /** The least the limit can be, from what was seen remaining. */
  floor = 0
  /** What is left in this window, by the provider's last word less what went out since; undefined: unknown. */
  available: number | undefined
  /** When the window resets (epoch ms); undefined: not known yet. */
  resetAt: number | undefined
  /** Whether `resetAt` came from the provider, not from the fallback window. */
  told = false
  /** Counts the windows seen, so a late answer from an older one is not mistaken for news. */
  epoch = 0

  constructor(
    readonly name: string,
    readonly unit: QuotaUnit,
  ) {}

  /** At the reset the whole limit is back, except what is in flight and may be counted in the new window. */
  refresh(now: number, inflight: number): void {
    if (this.resetAt === undefined || now < this.resetAt) return
    this.epoch++
    this.resetAt = undefined
    this.told = false
    const whole = Math.max(this.limit ?? 0, this.floor)
    // A limit never learned: one call at a time finds it out.
    this.available = whole > 0 ? whole - inflight : undefined
  }

  /** Learns from one answer; `others` is what is in flight besides the call answered. */
  observe(policy: Policy, at: number, cost: number, others: number, stale: boolean): void {
    if (policy.limit !== undefined) this.limit = policy.limit
    if (policy.remaining === undefined) return
    // The answered call was counted in the window that reports `remaining`.
    this.floor = Math.max(this.floor, policy.remaining + (this.unit === 'requests' ? cost : 0))
    if (stale) return
    this.available = Math.min(this.available ?? Number.POSITIVE_INFINITY, policy.remaining - others)
    if (policy.resetMs !== undefined) {
      const resetAt = at + policy.resetMs
      this.resetAt = this.told ? Math.max(this.resetAt ?? 0, resetAt) : resetAt
      this.told = true
    }
  }

  /** Usage read from the body replaces the estimate that was charged for it. */
  correct(delta: number, epoch: number): void {
    if (epoch === this.epoch && this.available !== undefined) this.available += delta
  }
}

/**
 * A configured per-minute quota, refilled continuously (GCRA), as the providers' own limiters
 * work: `tat` is when the bucket would be full again.
 */
export class RateBucket {
  private tat = 0

  constructor(
    readonly capacity: number,
    readonly windowMs: number,
  ) {}

  /** Ms to wait before `cost` fits; 0 when it fits now. */
  wait(cost: number, now: number): number {
    const interval = this.windowMs / this.capacity
    const tat = Math.max(this.tat, now) + Math.min(cost, this.capacity) * interval
    return Math.max(0, tat - this.windowMs - now)
  }

  /** Takes `cost` now. */
  take(cost: number, now: number): void {
    this.tat = Math.max(this.tat, now) + Math.min(cost, this.capacity) * (this.windowMs / this.capacity)
  }

  /** Gives back (negative) or charges (positive) what the usage showed beyond the estimate. */
  correct(delta: number): void {
    this.tat += delta * (this.windowMs / this.capacity)
  }
}
