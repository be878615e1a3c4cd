/** How a store counts one check: a windowed algorithm, or a set of concurrency leases. */
export type StoreAlgorithm = 'token-bucket' | 'sliding-window' | 'fixed-window' | 'concurrency'

/**
 * One rule applied to one identity, ready for a store: every number is an integer in the rule's
 * units (requests, tokens, micro-USD or leases).
 */
export interface StoreCheck {
  /** Key of this rule and identity; contains only safe characters (no raw user input). */
  readonly key: string
  /** Checks that share a group share a Redis Cluster hash slot (one identity). */
  readonly group: string
  /** Name of the rule; with `group` it identifies the key (`key` is `${rule}:${group}`). Optional for custom callers. */
  readonly rule?: string
  /** How to count. */
  readonly algorithm: StoreAlgorithm
  /** Amount per window (token bucket: the refill per `windowMs`); for concurrency, the maximum leases. */
  readonly limit: number
  /** Token bucket: the bucket size; other algorithms: equal to `limit`. */
  readonly burst: number
  /** Rolling window length; for calendar rules 0; for concurrency, the lease time-to-live. */
  readonly windowMs: number
  /** Calendar period, computed from the store's own clock. */
  readonly calendar?: 'day' | 'week' | 'month'
  /** IANA time zone of a calendar period (its days start at local midnight); UTC when absent. */
  readonly timeZone?: string
  /** Amount to take (concurrency: always 1). 0 takes nothing but still reports the state. */
  readonly cost: number
  /**
   * Scratch for a store: it may keep its own handle for this check's key here (the memory store
   * keeps the key's state, so a returning identity needs no lookup). It must validate what it
   * finds, since the same check may reach another store; the engine never reads it.
   */
  slot?: unknown
}

/** What a store reports for one check. */
export interface StoreCheckResult {
  /** This check alone would admit its cost. */
  allowed: boolean
  /** Amount left after this decision (charged only when the whole decision was allowed). */
  remaining: number
  /** Epoch ms (store clock) when the rule is fully replenished. */
  resetAt: number
  /** 0 when allowed; otherwise ms until the same cost would be admitted, or -1 when it never can. */
  retryAfterMs: number
  /** Identifies the window charged, so a later adjustment lands in the same window. */
  window: number
}

/** The outcome of one atomic, all-or-nothing consume. */
export interface ConsumeResult {
  /** Every check admitted, so every check was charged; otherwise nothing was charged. */
  allowed: boolean
  /** The store's clock (epoch ms) at the decision. */
  now: number
  /** One result per check, in order. */
  results: StoreCheckResult[]
}

/** A correction applied after the call: refund (negative) or extra charge (positive) in the same window. */
export interface StoreAdjustment {
  /** The check as it was consumed. */
  readonly check: StoreCheck
  /** `StoreCheckResult.window` from the consume. */
  readonly window: number
  /** Units to add (positive) or give back (negative); concurrency: any negative value releases the lease. */
  readonly delta: number
}

/** Identifies one decision, so retries never count twice and leases are released by id. */
export interface StoreContext {
  /** Unique id of the decision. */
  readonly requestId: string
  /** The time (epoch ms) the engine read from `clockOwner.clock()` earlier in this decision. */
  readonly now?: number
  /** The store whose clock gave `now`: only that store may use it instead of reading its clock again. */
  readonly clockOwner?: Store
}

/** A counter backend: memory, Redis, or a bridge to another library. */
export interface Store extends OperatorStore {
  /** Short name used in logs and metrics. */
  readonly name: string
  /**
   * The store's clock (epoch ms), when it is in-process: a decision that needs the time before it reaches the
   * store (a cached limit's expiry) reads it here and hands it back as `StoreContext.now`, so it is read once.
   */
  clock?(): number
  /** Checks every rule and charges all of them only when all admit, atomically. */
  consume(checks: readonly StoreCheck[], context: StoreContext): Promise<ConsumeResult>
  /** Applies corrections in the windows they were reserved in; releases leases. Idempotent per request id. */
  adjust(adjustments: readonly StoreAdjustment[], context: StoreContext): Promise<void>
  /** Synchronous consume for in-process stores; lets the engine skip a promise hop. */
  consumeSync?(checks: readonly StoreCheck[], context: StoreContext): ConsumeResult
  /**
   * A denial the store already knows without any I/O (a local cache of over-limit keys), answered
   * synchronously; undefined sends the decision on to `consume`. Must never answer an admit.
   */
  deniedLocally?(checks: readonly StoreCheck[]): ConsumeResult | undefined
  /** Releases timers, connections and other resources. */
  close?(): Promise<void>
}

/** A block on one identity, as the store keeps it. */
export interface StoreBlock {
  /** Shown to the blocked caller. */
  readonly reason: string
  /** HTTP status of the refusal: 403 (default) or 429. */
  readonly status: number
  /** Epoch ms (store clock) when the block ends. */
  readonly untilMs: number
}

/** The operator's records for one identity group: limit overrides and a block, shared by every process. */
export interface StoreControls {
  /** Limit overrides in store units, by rule name. */
  readonly limits: Readonly<Record<string, number>>
  /** The block in force, if any. */
  readonly block: StoreBlock | undefined
}

/** One change to an identity group's controls. */
export type StoreControlChange =
  | { readonly kind: 'limit'; readonly rule: string; readonly value: number | undefined }
  | { readonly kind: 'block'; readonly block: { reason: string; status: number; ms: number } | undefined }

/**
 * What a store offers the operator's API (`peek`, `reset`, `setLimit`, `block`, threshold events). Every
 * method is optional; the limiter says which operation needs which, and how to enable it, when one is missing.
 */
export interface OperatorStore {
  /** The state of each check as admission would read it, with nothing charged and nothing written. */
  peek?(checks: readonly StoreCheck[]): Promise<ConsumeResult>
  /** Forgets the counters of these checks (their windows, buckets and leases). */
  forget?(checks: readonly StoreCheck[]): Promise<void>
  /** Adds `delta` (store units; negative refunds) to each check's current window, exactly and atomically. */
  add?(checks: readonly StoreCheck[], deltas: readonly number[]): Promise<void>
  /** The controls of each group, in order (empty records for groups without any). */
  readControls?(groups: readonly string[]): Promise<readonly StoreControls[]>
  /** The same, answered without I/O by in-process stores; undefined when no group has any control. */
  readControlsSync?(groups: readonly string[]): readonly StoreControls[] | undefined
  /** With `readControlsSync`: false when no group has any control, so a decision skips reading them. */
  hasControls?(): boolean
  /** Applies one change to a group's controls. */
  writeControl?(group: string, change: StoreControlChange): Promise<void>
  /** True for the first caller to claim `marker` in `group` until `ttlMs` passes (e.g. a threshold crossed). */
  claimOnce?(group: string, marker: string, ttlMs: number): Promise<boolean>
}
