import { ALGORITHMS, Entry, Field, PACKED_FIELDS, PackedOutcome } from '@llm-limit/core'
import { isWireCheck, type LimitCall, type WireCheck } from './protocol.js'

/** The part of a Durable Object's storage the limit object uses. */
export interface LimitObjectStorage {
  list<T>(): Promise<Map<string, T>>
  put(entries: Record<string, unknown>): Promise<void>
  delete(keys: string[]): Promise<number>
  setAlarm(scheduledTime: number): Promise<void>
}

/** The part of a Durable Object's state the limit object uses (`DurableObjectState` on Workers). */
export interface LimitObjectState {
  readonly storage: LimitObjectStorage
  blockConcurrencyWhile<T>(callback: () => Promise<T>): Promise<T>
}

/** An entry as kept in storage: the algorithm state and when it is fully replenished. */
interface Stored {
  entry: Entry
  expiresAt: number
}

/**
 * The Durable Object behind `durableObjectStore()`: one instance per identity group. Each call runs
 * the core's own algorithms (the memory store's code path) without awaiting anything, so the
 * object's single thread makes every decision atomic; state is written through to the object's
 * storage, so limits survive the object being evicted or moved. Export it from your Worker:
 * `export { LlmLimitObject } from '@llm-limit/workers'`.
 */
export class LlmLimitObject {
  private readonly entries = new Map<string, Stored>()
  private alarmAt = 0

  constructor(
    private readonly state: LimitObjectState,
    _env?: unknown,
  ) {
    state.blockConcurrencyWhile(async () => {
      const saved = await state.storage.list<Stored>()
      for (const [key, stored] of saved) {
        if (key.startsWith('k:')) {
          this.entries.set(key.slice(2), {
            entry: Object.assign(new Entry(), stored.entry),
            expiresAt: stored.expiresAt,
          })
        }
      }
    })
  }

  /** Answers one `consume` or `adjust` call from `durableObjectStore()`. */
  async fetch(request: Request): Promise<Response> {
    let call: LimitCall
    try {
      call = (await request.json()) as LimitCall
    } catch {
      return problem('Expected a JSON body from durableObjectStore().')
    }
    const now = Date.now()
    if (call?.op === 'consume' && Array.isArray(call.checks) && call.checks.every(isWireCheck)) {
      return Response.json(this.consume(call.checks, String(call.requestId), now))
    }
    if (
      call?.op === 'adjust' &&
      Array.isArray(call.adjustments) &&
      call.adjustments.every((item) => isWireCheck(item?.check) && Number.isFinite(item.delta))
    ) {
      this.adjust(call.adjustments, String(call.requestId), now)
      return new Response(null, { status: 204 })
    }
    return problem(
      'Expected { op: "consume", checks } or { op: "adjust", adjustments } from durableObjectStore().',
    )
  }

  /** Drops the keys whose windows have all passed; re-arms for the rest. */
  async alarm(): Promise<void> {
    const now = Date.now()
    const gone: string[] = []
    let next = 0
    for (const [key, stored] of this.entries) {
      if (stored.expiresAt <= now) gone.push(key)
      else if (next === 0 || stored.expiresAt < next) next = stored.expiresAt
    }
    for (const key of gone) this.entries.delete(key)
    // Storage deletes take at most 128 keys at a time.
    for (let i = 0; i < gone.length; i += 128)
      await this.state.storage.delete(gone.slice(i, i + 128).map((key) => `k:${key}`))
    this.alarmAt = 0
    if (next !== 0) this.arm(next)
  }

  /** Inspects every check, then charges all of them only when all admit: the memory store's logic. */
  private consume(checks: WireCheck[], requestId: string, now: number) {
    const numbers: number[] = new Array(checks.length * PACKED_FIELDS).fill(0)
    const entries: Stored[] = []
    let allowed = true
    checks.forEach((check, i) => {
      let stored = this.entries.get(check.key)
      if (stored === undefined) {
        stored = { entry: new Entry(), expiresAt: now }
        this.entries.set(check.key, stored)
      }
      ALGORITHMS[check.algorithm].inspect(stored.entry, check, now, numbers, i * PACKED_FIELDS)
      if (numbers[i * PACKED_FIELDS + Field.Allowed] === 0) allowed = false
      entries.push(stored)
    })
    if (allowed) {
      const changed: Record<string, unknown> = {}
      checks.forEach((check, i) => {
        const at = i * PACKED_FIELDS
        const leaseId = check.algorithm === 'concurrency' ? requestId : ''
        ALGORITHMS[check.algorithm].charge(entries[i].entry, check, now, numbers, at, leaseId)
        const resetAt = numbers[at + Field.ResetAt]
        if (resetAt > entries[i].expiresAt) entries[i].expiresAt = resetAt
        changed[`k:${check.key}`] = entries[i]
      })
      this.save(changed)
    }
    // Serialised by `Response.json` as a plain `ConsumeResult`.
    return new PackedOutcome(allowed, now, numbers)
  }

  private adjust(
    adjustments: { check: WireCheck; window: number; delta: number }[],
    requestId: string,
    now: number,
  ) {
    const changed: Record<string, unknown> = {}
    for (const { check, window, delta } of adjustments) {
      const stored = this.entries.get(check.key)
      if (stored === undefined) continue
      ALGORITHMS[check.algorithm].adjust(stored.entry, check, Number(window), delta, now, requestId)
      changed[`k:${check.key}`] = stored
    }
    this.save(changed)
  }

  /**
   * Writes through without awaiting: the runtime's output gate holds the answer until the write is
   * durable, and not awaiting keeps the next call from slipping in between a decision and its write.
   */
  private save(changed: Record<string, unknown>): void {
    const keys = Object.keys(changed)
    if (keys.length === 0) return
    this.state.storage.put(changed).catch(() => {})
    let latest = 0
    for (const key of keys) latest = Math.max(latest, (changed[key] as Stored).expiresAt)
    if (this.alarmAt === 0 || latest < this.alarmAt) this.arm(latest)
  }

  private arm(at: number): void {
    // A minute's slack batches the clean-up of keys that expire together.
    this.alarmAt = at + 60_000
    this.state.storage.setAlarm(this.alarmAt).catch(() => {})
  }
}

function problem(message: string): Response {
  return Response.json({ error: { message } }, { status: 400 })
}
