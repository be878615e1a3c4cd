import { Field } from '../algorithms/algorithm.js'
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

/** Numbers kept per check by `PackedOutcome`, at the offsets of `Field`. */
export const PACKED_FIELDS = 5

/** The result an algorithm wrote from `at` in `numbers` (at the offsets of `Field`), as an object. */
export function resultAt(numbers: readonly number[], at: number): CheckOutcome {
  return new CheckOutcome(
    numbers[at + Field.Allowed] === 1,
    numbers[at + Field.Remaining],
    numbers[at + Field.ResetAt],
    numbers[at + Field.RetryAfterMs],
    numbers[at + Field.Window],
  )
}

/**
 * A `ConsumeResult` whose per-check numbers sit in one array of doubles (`PACKED_FIELDS` per check),
 * and whose `results` objects are built on first read. An admitted decision nobody inspects, the
 * common case, never builds them: one array of 15 doubles takes 144 bytes, where three
 * `CheckOutcome`s with their boxed numbers and their array took 458, and with a million callers
 * every byte a decision allocates brings the next young-generation collection nearer.
 */
export class PackedOutcome implements ConsumeResult {
  private built: StoreCheckResult[] | undefined = undefined

  constructor(
    public allowed: boolean,
    public now: number,
    /** `PACKED_FIELDS` numbers per check; the memory store copies them with `Array.prototype.slice`, which has no allocation site for V8 to pretenure. */
    readonly numbers: readonly number[],
  ) {}

  get results(): StoreCheckResult[] {
    if (this.built === undefined) {
      const numbers = this.numbers
      const built: StoreCheckResult[] = []
      for (let at = 0; at < numbers.length; at += PACKED_FIELDS) built.push(resultAt(numbers, at))
      this.built = built
    }
    return this.built
  }

  set results(results: StoreCheckResult[]) {
    this.built = results
  }

  /** The public fields, so the result serialises as a plain `ConsumeResult` would. */
  toJSON(): ConsumeResult {
    return { allowed: this.allowed, now: this.now, results: this.results }
  }
}
