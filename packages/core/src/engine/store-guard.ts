import type { ConsumeResult, Store, StoreCheck, StoreContext } from '../store/store.js'
import type { StoreErrorPolicy } from './options.js'

/** After a failure, how long decisions skip the primary store before probing it again. */
const PROBE_AFTER_MS = 250

/** The store that answered, its result, or the policy's verdict when none could. */
export type GuardedResult =
  | { store: Store; result: ConsumeResult }
  | { store: undefined; failOpen: boolean; error: unknown }

/**
 * Applies `onStoreError`: a failing primary is skipped for a short probe interval so a dead Redis
 * costs no waiting, and an insurance store counts meanwhile; the primary takes over again as soon
 * as a probe succeeds.
 */
export class StoreGuard {
  private downUntil = 0
  private lastError: unknown

  constructor(
    readonly primary: Store,
    private readonly policy: StoreErrorPolicy,
    private readonly report: (error: unknown, store: Store) => void,
  ) {}

  /**
   * The fast path: a synchronous primary store that is up answers directly, as does a remote store
   * that already knows the decision is denied; otherwise undefined.
   */
  consumeSync(checks: readonly StoreCheck[], context: StoreContext): ConsumeResult | undefined {
    const primary = this.primary
    if (this.downUntil !== 0) return undefined
    try {
      if (primary.consumeSync !== undefined) return primary.consumeSync(checks, context)
      return primary.deniedLocally?.(checks)
    } catch {
      // The general path retries, records the failure and applies the policy.
      return undefined
    }
  }

  consume(checks: readonly StoreCheck[], context: StoreContext): GuardedResult | Promise<GuardedResult> {
    if (this.downUntil !== 0 && Date.now() < this.downUntil)
      return this.fallback(checks, context, this.lastError)
    const primary = this.primary
    if (primary.consumeSync !== undefined) {
      try {
        return { store: primary, result: primary.consumeSync(checks, context) }
      } catch (error) {
        return this.failed(error, checks, context)
      }
    }
    return primary.consume(checks, context).then(
      (result): GuardedResult => {
        this.downUntil = 0
        return { store: primary, result }
      },
      (error: unknown) => this.failed(error, checks, context),
    )
  }

  private failed(error: unknown, checks: readonly StoreCheck[], context: StoreContext) {
    this.downUntil = Date.now() + PROBE_AFTER_MS
    this.lastError = error
    this.report(error, this.primary)
    return this.fallback(checks, context, error)
  }

  private fallback(
    checks: readonly StoreCheck[],
    context: StoreContext,
    error: unknown,
  ): GuardedResult | Promise<GuardedResult> {
    const policy = this.policy
    if (typeof policy === 'object') {
      const insurance = policy.insurance
      return insurance.consume(checks, context).then(
        (result): GuardedResult => ({ store: insurance, result }),
        (insuranceError: unknown): GuardedResult => {
          this.report(insuranceError, insurance)
          return { store: undefined, failOpen: false, error: insuranceError }
        },
      )
    }
    return { store: undefined, failOpen: policy === 'fail-open', error }
  }
}
