/** A write the store must not lose: a release, a correction, an undo. */
export interface Settlement {
  /** Sends one attempt, given the ms since the first; undefined when nothing is left worth sending. */
  send(elapsedMs: number): Promise<unknown> | undefined
  /** Ms after the first attempt when the settlement is moot (the lease or window has expired) and is dropped. */
  readonly mootAfterMs: number
}

interface Entry {
  settlement: Settlement
  firstAt: number
}

const FIRST_RETRY_MS = 25
const LAST_RETRY_MS = 1000

/**
 * Settlements that failed to reach Redis, kept and retried (25 ms doubling to 1 s, and at once when the client is
 * ready again) until one attempt lands or the settlement is moot. Every settlement is idempotent by its decision's
 * id, so an attempt whose reply was lost and that is sent again never applies twice.
 */
export class SettlementQueue {
  private waiting: Entry[] = []
  private timer: ReturnType<typeof setTimeout> | undefined
  private delayMs = FIRST_RETRY_MS
  private inFlight = 0
  private closed = false

  constructor(
    /** Monotonic ms. */
    private readonly now: () => number,
    /** Most settlements kept; past it the oldest is dropped (its lease or window expires on its own). */
    private readonly max = 100_000,
  ) {}

  /** Settlements not yet landed: waiting for a retry or being sent. */
  get size(): number {
    return this.waiting.length + this.inFlight
  }

  /** Sends a settlement now; when that attempt fails it is kept and retried. The promise is the first attempt's outcome. */
  submit(settlement: Settlement): Promise<void> {
    return this.attempt({ settlement, firstAt: this.now() })
  }

  /** Retries every waiting settlement now (the client just became ready). */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    const entries = this.waiting
    this.waiting = []
    for (const entry of entries) this.attempt(entry).catch(() => {})
  }

  close(): void {
    this.closed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private attempt(entry: Entry): Promise<void> {
    const elapsed = this.now() - entry.firstAt
    const sent = elapsed > entry.settlement.mootAfterMs ? undefined : entry.settlement.send(elapsed)
    if (sent === undefined) return Promise.resolve()
    this.inFlight++
    return sent.then(
      () => {
        this.inFlight--
        this.delayMs = FIRST_RETRY_MS
      },
      (error: unknown) => {
        this.inFlight--
        this.keep(entry)
        throw error
      },
    )
  }

  private keep(entry: Entry): void {
    if (this.closed) return
    if (this.waiting.length >= this.max) this.waiting.shift()
    this.waiting.push(entry)
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.delayMs = Math.min(this.delayMs * 2, LAST_RETRY_MS)
      this.flush()
    }, this.delayMs)
    this.timer.unref?.()
  }
}
