import type { ConsumeResult, StoreCheck } from '@llm-limit/core'

/** A denial remembered for a combination of keys, until (monotonic ms) a retry could succeed. */
interface Remembered {
  until: number
  at: number
  result: ConsumeResult
}

/** Deny-cache keys of check lists (the engine reuses one list per identity for request rules), with what they were made from. */
const IDENTIFIED = new WeakMap<
  readonly StoreCheck[],
  { key: string; checks: StoreCheck[]; costs: number[] }
>()

const identify = (checks: readonly StoreCheck[]): string => {
  const known = IDENTIFIED.get(checks)
  // A list is only trusted while it holds the same checks with the same costs as when its key was made.
  if (known !== undefined && known.checks.length === checks.length) {
    let same = true
    for (let i = 0; i < checks.length && same; i++)
      same = known.checks[i] === checks[i] && known.costs[i] === checks[i].cost
    if (same) return known.key
  }
  // The limit and the window are part of the shape: a limit raised by the operator (setLimit), or a rule reloaded
  // with another window or time zone (updateRules), is never met by an older denial.
  const key = checks
    .map(
      (check) =>
        `${check.key}\u0000${check.cost}\u0000${check.limit}\u0000${check.windowMs}\u0000${check.calendar}\u0000${check.timeZone}`,
    )
    .join('\n')
  IDENTIFIED.set(checks, { key, checks: checks.slice(), costs: checks.map((check) => check.cost) })
  return key
}

/**
 * Denials known locally: the same request shape denied moments ago is denied again without a round trip. A denial
 * is kept until its retry time (slightly shortened) and never longer than `maxMs`, so a refund made in another
 * process (which this one cannot see) is honoured here within `maxMs`. Admits are never cached.
 */
export class DenyCache {
  private readonly denied = new Map<string, Remembered>()

  constructor(
    /** Monotonic ms. */
    private readonly now: () => number,
    private readonly maxMs: number,
  ) {}

  /** Remembers a denial with a known wait, by the app's monotonic clock (a duration, never a time of day). */
  remember(checks: readonly StoreCheck[], result: ConsumeResult): void {
    let wait = Number.POSITIVE_INFINITY
    for (const r of result.results) {
      if (r.allowed) continue
      if (r.retryAfterMs <= 0) return
      wait = Math.min(wait, r.retryAfterMs)
    }
    if (wait === Number.POSITIVE_INFINITY || checks.some((check) => check.algorithm === 'concurrency')) return
    const denied = this.denied
    if (denied.size >= 10_000) denied.clear()
    const now = this.now()
    // Forget a little early: a local denial must never outlive the real one.
    denied.set(identify(checks), { until: now + Math.min(wait * 0.9, this.maxMs), at: now, result })
  }

  /** The remembered denial of this request shape, its waits shortened by the time since; undefined when none. */
  lookup(checks: readonly StoreCheck[]): ConsumeResult | undefined {
    const denied = this.denied
    if (denied.size === 0) return undefined
    const key = identify(checks)
    const hit = denied.get(key)
    if (!hit) return undefined
    const now = this.now()
    if (hit.until <= now) {
      denied.delete(key)
      return undefined
    }
    const elapsed = now - hit.at
    return {
      allowed: false,
      now: hit.result.now + elapsed,
      results: hit.result.results.map((r) =>
        r.allowed ? r : { ...r, retryAfterMs: Math.max(1, Math.ceil(r.retryAfterMs - elapsed)) },
      ),
    }
  }

  clear(): void {
    this.denied.clear()
  }
}
