import { configError } from '../errors.js'
import type { ConsumeResult, Store } from '../store/store.js'
import type { Identity } from '../types.js'
import type { Attempt } from './attempt.js'

/** Usage of a rule crossed a fraction of its limit (fired once per window, identity and fraction, fleet-wide). */
export interface ThresholdEvent {
  /** Rule name. */
  rule: string
  /** The caller (hashed identities only). */
  identity: Identity
  /** The fraction crossed, e.g. 0.8. */
  fraction: number
  /** Used in the window after the crossing decision, in the rule's units (USD for cost rules). */
  used: number
  /** The limit that applied, in the rule's units. */
  limit: number
}

/** A marker outlives its window by this much, so a clock step between processes never fires a fraction twice. */
const MARGIN_MS = 1000

/**
 * Watches admitted decisions for usage crossing configured fractions of a limit. The decision whose charge took
 * usage from below a fraction to at or above it claims a marker in the store for that window (a SET NX with the
 * window's TTL in Redis), so among racing processes exactly one reports it.
 */
export class ThresholdWatcher {
  private readonly fractions: readonly number[]

  constructor(
    fractions: readonly number[] | undefined,
    private readonly store: Store,
    private readonly fire: (event: ThresholdEvent) => void,
    private readonly failed: (error: unknown) => void,
  ) {
    const list = fractions ?? [0.8, 1]
    if (!Array.isArray(list) || list.some((f) => typeof f !== 'number' || !(f > 0) || f > 1)) {
      configError(
        `Expected \`thresholds\` to be an array of fractions in (0, 1], like [0.8, 1], got ${String(list)}.`,
      )
    }
    this.fractions = [...list].sort((a, b) => a - b)
  }

  /** Looks at an admitted decision's charges; claims and reports what it crossed. */
  observe(attempt: Attempt, result: ConsumeResult): void {
    const rules = attempt.applied.rules
    const checks = attempt.checks
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]
      const check = checks[i]
      const out = result.results[i]
      if (check.cost <= 0 || out === undefined) continue
      const capacity = check.algorithm === 'token-bucket' ? check.burst : check.limit
      const used = capacity - out.remaining
      const before = used - check.cost
      for (const fraction of this.fractions) {
        const mark = fraction * capacity
        if (!(before < mark && used >= mark)) continue
        const event: ThresholdEvent = {
          rule: rule.name,
          identity: attempt.identity,
          fraction,
          used: used / rule.scale,
          limit: rule.limit / rule.scale,
        }
        const claim = this.store.claimOnce
        if (claim === undefined) {
          this.fire(event)
          continue
        }
        const ttl = Math.max(
          MARGIN_MS,
          (out.resetAt > result.now ? out.resetAt - result.now : check.windowMs) + MARGIN_MS,
        )
        claim.call(this.store, check.group, `t:${rule.name}:${out.window}:${fraction}`, ttl).then((first) => {
          if (first) this.fire(event)
        }, this.failed)
      }
    }
  }
}
