import {
  CheckOutcome,
  ConsumeOutcome,
  type ConsumeResult,
  LlmLimitError,
  type StoreCheck,
} from '@llm-limit/core'
import {
  ALGORITHM_CODES,
  calendarCode,
  keyOf,
  Mode,
  mayHaveApplied,
  recordsOf,
  type StoreCore,
} from './store-core.js'
import { undoSettlement } from './undo.js'

/** Results denied only because of other decisions' pending charges (Cluster): worth trying again shortly. */
export const HELD_BY_PENDING = new WeakSet<ConsumeResult>()

/** A decision waiting for its batch. */
interface Pending {
  checks: readonly StoreCheck[]
  /** Hash tag of the identity that holds the decision's request record. */
  tag: string
  requestId: string
  /** The decision's every check is in this batch, so a denial may be remembered locally. */
  whole: boolean
  /** State key index (1-based) of each check, filled in when the batch is encoded. */
  keys: number[]
  resolve(answer: ConsumeResult): void
  reject(error: unknown): void
}

/** Same keys and costs in the same order: the decision reuses the previous decision's encoded shape. */
function sameShape(a: readonly StoreCheck[], b: readonly StoreCheck[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    if (x.key !== y.key || x.cost !== y.cost || x.rule !== y.rule || x.group !== y.group) return false
  }
  return true
}

/** Reads one decision's checks from the integer reply at `at` into `result`; returns where the next decision starts. */
function readDecision(reply: number[], at: number, keys: number[], result: ConsumeResult): number {
  const count = keys.length
  const results = result.results
  const flag = reply[at++]
  if (flag === 1) {
    for (let i = 0; i < count; i++, at += 2)
      results[i] = new CheckOutcome(true, reply[at], reply[at + 1], 0, reply[keys[i] + 1])
  } else if (flag === 0 || flag === 3) {
    result.allowed = false
    if (flag === 3) HELD_BY_PENDING.add(result)
    for (let i = 0; i < count; i++, at += 4)
      results[i] = new CheckOutcome(
        reply[at] === 1,
        reply[at + 1],
        reply[at + 2],
        reply[at + 3],
        reply[keys[i] + 1],
      )
  } else if (flag === 2) {
    // Admitted earlier under this request id (a resent command): nothing was charged again.
    for (let i = 0; i < count; i++, at += 3)
      results[i] = new CheckOutcome(true, reply[at], reply[at + 1], 0, reply[at + 2])
  } else {
    // 4: the id was voided after its client was told it failed; nothing was charged.
    result.results = []
  }
  return at
}

const NO_KEYS: number[] = []
/** Most decisions in one script call: the script passes a batch's request ids to one HMGET. */
export const MAX_BATCH = 1000

/**
 * Queues decisions per hash slot and mode: decisions made in the same turn of the event loop share one script call
 * (still one round trip each), so Redis is not the bottleneck under load. A call that fails after it may have
 * reached Redis has each of its decisions voided, so a decision the caller was told failed is never charged.
 */
export class Batcher {
  private readonly queues = new Map<string, Pending[]>()
  private scheduled = false

  constructor(
    private readonly core: StoreCore,
    private readonly maxBatch: number,
  ) {}

  consume(
    checks: readonly StoreCheck[],
    tag: string,
    requestId: string,
    whole: boolean,
    mode: Mode,
  ): Promise<ConsumeResult> {
    return new Promise<ConsumeResult>((resolve, reject) => {
      const slot = mode === Mode.plain ? 'all' : mode === Mode.tentative ? `${tag}\n` : tag
      let queue = this.queues.get(slot)
      if (!queue) {
        queue = []
        this.queues.set(slot, queue)
      }
      queue.push({ checks, tag, requestId, whole, keys: NO_KEYS, resolve, reject })
      if (queue.length >= this.maxBatch) {
        this.queues.delete(slot)
        this.send(queue, mode)
      } else if (!this.scheduled) {
        this.scheduled = true
        setImmediate(this.flush)
      }
    })
  }

  private readonly flush = () => {
    this.scheduled = false
    for (const [slot, queue] of this.queues)
      this.send(queue, slot === 'all' ? Mode.plain : slot.endsWith('\n') ? Mode.tentative : Mode.mindful)
    this.queues.clear()
  }

  /**
   * One script call for a batch of decisions of one slot; each decision stays all-or-nothing. Decisions with the
   * same checks as the one before share an encoded shape, so a hot identity costs two numbers and an id per decision.
   */
  private send(batch: Pending[], mode: Mode): void {
    const core = this.core
    const prefix = core.prefix
    const keys: string[] = []
    const keyIndexes = new Map<string, number>()
    const specs: (string | number)[] = []
    const bases: string[] = []
    const shapes: number[] = []
    const decisions: number[] = []
    const ids: string[] = []
    let shapeCount = 0
    let previous: Pending | undefined
    let base = 0
    for (const item of batch) {
      if (previous === undefined || item.tag !== previous.tag) {
        const name = recordsOf(prefix, item.tag)
        base = bases.indexOf(name) + 1
        if (base === 0) base = bases.push(name)
      }
      if (previous !== undefined && sameShape(item.checks, previous.checks)) {
        item.keys = previous.keys
      } else {
        const checks = item.checks
        const indexes: number[] = new Array(checks.length)
        shapes.push(checks.length)
        for (let i = 0; i < checks.length; i++) {
          const check = checks[i]
          const key = keyOf(prefix, check)
          let index = keyIndexes.get(key)
          if (index === undefined) {
            index = keys.push(key)
            keyIndexes.set(key, index)
            specs.push(
              ALGORITHM_CODES[check.algorithm],
              check.limit,
              check.burst,
              check.windowMs,
              calendarCode(check),
            )
          }
          indexes[i] = index
          shapes.push(index, check.cost)
        }
        item.keys = indexes
        shapeCount++
      }
      decisions.push(base, shapeCount)
      ids.push(item.requestId)
      previous = item
    }
    const head: (string | number)[] = [keys.length + bases.length]
    const args = head.concat(
      keys,
      bases,
      core.idempotencyMs,
      0,
      mode,
      core.markMs,
      keys.length,
      specs,
      shapeCount,
      shapes,
      batch.length,
      decisions,
      ids,
    )
    const deadlineAt = 1 + keys.length + bases.length + 1
    core
      .call((deadline) => {
        args[deadlineAt] = deadline
        return core.scripted.llmLimitConsume(args)
      })
      .then(
        (reply) => this.read(batch, keys.length, reply),
        (error: unknown) => this.failed(batch, error),
      )
  }

  private read(batch: Pending[], keyCount: number, reply: number[]): void {
    const now = reply[0]
    this.core.observe(now)
    if (reply[1] === -1) {
      const late = new LlmLimitError(
        'ERR_STORE_TIMEOUT',
        'Redis received the decision after its deadline (timeoutMs) and did not apply it.',
      )
      // This copy was not applied; one ioredis sent before (and resent after a reconnect) may have been.
      this.failed(batch, late)
      return
    }
    const denied = this.core.denied
    let at = 2 + keyCount
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]
      const result: ConsumeResult = new ConsumeOutcome(true, now, new Array(item.keys.length))
      at = readDecision(reply, at, item.keys, result)
      if (result.results.length !== item.keys.length) {
        item.reject(
          new LlmLimitError(
            'ERR_STORE',
            `Request id '${item.requestId}' was voided after an earlier failure; each decision needs a new id.`,
          ),
        )
        continue
      }
      if (!result.allowed && item.whole && denied && !HELD_BY_PENDING.has(result))
        denied.remember(item.checks, result)
      item.resolve(result)
    }
  }

  /** The caller is told the decision failed, so whatever the call may have done in Redis is undone (and kept trying). */
  private failed(batch: Pending[], error: unknown): void {
    const applied = mayHaveApplied(error)
    for (const item of batch) {
      item.reject(error)
      if (applied)
        this.core.settlements
          .submit(undoSettlement(this.core, item.checks, item.tag, item.requestId, 'void'))
          .catch(() => {})
    }
  }
}
