import type { ConsumeResult, StoreCheckResult } from './store.js'

// A decision keeps its store's result for as long as its request runs (seconds, for a streamed
// LLM call), so objects allocated for a decision survive young-generation collections. V8 then
// pretenures the object literal that made them: every later decision allocates it straight in the
// old generation, and a full collection follows every hundred megabytes. Measured: 430 bytes per
// decision in the old generation and 4x the time per check. Instances of a class have no
// allocation site, so they are always allocated young, whatever earlier ones lived through.

/** A `StoreCheckResult` that a store fills in; a class so that V8 never pretenures it (see above). */
export class CheckOutcome implements StoreCheckResult {
  constructor(
    public allowed: boolean,
    public remaining: number,
    public resetAt: number,
    public retryAfterMs: number,
    public window: number,
  ) {}
}

/** A `ConsumeResult` as a class, for the same reason as `CheckOutcome`. */
export class ConsumeOutcome implements ConsumeResult {
  constructor(
    public allowed: boolean,
    public now: number,
    public results: StoreCheckResult[],
  ) {}
}
