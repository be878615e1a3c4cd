/**
 * The in-memory state of one rule for one identity. One shape for every algorithm keeps V8's
 * hidden class stable; unused fields cost a few bytes.
 */
export class Entry {
  /** Token bucket: theoretical arrival time (epoch ms). Sliding window: newest sub-window that holds an amount. */
  tat = 0
  /** Fixed window: start of the counted window (epoch ms). Sliding window: oldest sub-window in `count`. */
  start = 0
  /** Fixed window: amount taken in the window. Sliding window: running total from sub-window `start` on. */
  count = 0
  /**
   * Sliding window: per ring slot, the sub-window index it holds (even positions) and the amount
   * taken in it (odd positions). One plain array of doubles lives on the heap beside the entry,
   * where two typed arrays would each keep their numbers in a separate allocation.
   */
  ring: number[] | undefined = undefined
  /**
   * Sliding window: amount taken in sub-window `tat` that is not in `ring` yet. Charges within one
   * sub-window add here, so the hot path never touches the ring, which is usually out of the CPU cache.
   */
  head = 0
  /** Concurrency: lease id → expiry (epoch ms). */
  leases: Map<string, number> | undefined = undefined

  constructor() {
    // Every number field starts as a double, then is zeroed: V8 then stores them as doubles from
    // the first entry on. A field that starts as a small integer and later takes a fraction or an
    // epoch-ms value changes every entry's hidden class, and each entry is copied on its next use.
    this.tat = this.start = this.count = this.head = 0.5
    this.tat = this.start = this.count = this.head = 0
  }
}
