import type { Decision } from './decision.js'
import type { Priority } from './options.js'

/** Priorities from the most to the least important. */
export const PRIORITIES: readonly Priority[] = ['critical', 'high', 'normal', 'low']

interface Waiter {
  readonly priority: Priority
  readonly deadline: number
  wakeAt: number
  denial: Decision
  readonly retry: () => Promise<Decision>
  readonly resolve: (decision: Decision) => void
}

/** Resolved queue settings. */
export interface WaitQueueOptions {
  readonly maxWaitMs: number
  readonly maxSize: number
  readonly maxPerPriority: Readonly<Record<Priority, number>>
}

/**
 * Requests waiting for capacity instead of failing. FIFO within a priority; higher priorities are
 * retried first; when full, the lowest priority waiting is dropped first (answered with its denial).
 * One timer serves the whole queue.
 */
export class WaitQueue {
  private readonly waiting: Record<Priority, Waiter[]> = { critical: [], high: [], normal: [], low: [] }
  private size = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private timerAt = Number.POSITIVE_INFINITY
  private draining = false

  constructor(private readonly options: WaitQueueOptions) {}

  /** How many requests wait at each priority. */
  depth(): Record<Priority, number> {
    const { critical, high, normal, low } = this.waiting
    return { critical: critical.length, high: high.length, normal: normal.length, low: low.length }
  }

  /** True when waiting `denial.retryAfterMs` fits in `maxWaitMs`. */
  accepts(denial: Decision): boolean {
    return denial.retryable && denial.retryAfterMs > 0 && denial.retryAfterMs <= this.options.maxWaitMs
  }

  /** Waits until `retry()` admits, or answers with the last denial when the wait would exceed `maxWaitMs`. */
  wait(denial: Decision, retry: () => Promise<Decision>): Promise<Decision> {
    const priority = denial.priority
    return new Promise<Decision>((resolve) => {
      const now = Date.now()
      const waiter: Waiter = {
        priority,
        deadline: now + this.options.maxWaitMs,
        wakeAt: now + denial.retryAfterMs,
        denial,
        retry,
        resolve,
      }
      if (!this.makeRoom(priority)) {
        resolve(denial)
        return
      }
      this.waiting[priority].push(waiter)
      this.size++
      this.schedule()
    })
  }

  /** Frees a place for a request of `priority` by dropping a lower one, or says there is none. */
  private makeRoom(priority: Priority): boolean {
    const full = () =>
      this.size >= this.options.maxSize ||
      this.waiting[priority].length >= this.options.maxPerPriority[priority]
    if (!full()) return true
    if (this.waiting[priority].length >= this.options.maxPerPriority[priority]) return false
    const rank = PRIORITIES.indexOf(priority)
    for (let lower = PRIORITIES.length - 1; lower > rank; lower--) {
      // The newest of the lowest priority goes first: the oldest has waited longest.
      const dropped = this.waiting[PRIORITIES[lower]].pop()
      if (dropped) {
        this.size--
        dropped.resolve(dropped.denial)
        return !full()
      }
    }
    return false
  }

  private schedule(): void {
    let next = Number.POSITIVE_INFINITY
    for (const priority of PRIORITIES) {
      for (const waiter of this.waiting[priority]) next = Math.min(next, waiter.wakeAt, waiter.deadline)
    }
    if (next === Number.POSITIVE_INFINITY || next >= this.timerAt) return
    if (this.timer) clearTimeout(this.timer)
    this.timerAt = next
    this.timer = setTimeout(
      () => {
        this.timer = undefined
        this.timerAt = Number.POSITIVE_INFINITY
        void this.drain()
      },
      Math.max(0, next - Date.now()),
    )
    this.timer.unref?.()
  }

  /** Retries due waiters, highest priority first; a denial stops its priority so nobody overtakes. */
  private async drain(): Promise<void> {
    if (this.draining) return
    this.draining = true
    try {
      for (const priority of PRIORITIES) {
        const queue = this.waiting[priority]
        while (queue.length > 0) {
          const head = queue[0]
          const now = Date.now()
          if (head.deadline <= now) {
            queue.shift()
            this.size--
            head.resolve(head.denial)
            continue
          }
          if (head.wakeAt > now) break
          const decision = await head.retry()
          if (decision.allowed) {
            queue.shift()
            this.size--
            head.resolve(decision)
            continue
          }
          head.denial = decision
          head.wakeAt = Date.now() + decision.retryAfterMs
          if (!decision.retryable || head.wakeAt > head.deadline) {
            queue.shift()
            this.size--
            head.resolve(decision)
            continue
          }
          break
        }
      }
    } finally {
      this.draining = false
      this.schedule()
    }
  }
}
