import { createHash } from 'node:crypto'
import {
  type ConsumeResult,
  LlmLimitError,
  type Store,
  type StoreAdjustment,
  type StoreAlgorithm,
  type StoreCheck,
  type StoreCheckResult,
  type StoreContext,
} from '@llm-limit/core'
import type { Cluster, Redis } from 'ioredis'
import { CONSUME_LUA } from './consume-lua.js'
import { ADJUST_LUA } from './lua.js'

/** Options of `redisStore()`. */
export interface RedisStoreOptions {
  /** An ioredis `Redis` or `Cluster`; create it with `enableOfflineQueue: false` (see docs/stores.md). */
  client: Redis | Cluster
  /** Prefix of every key. @default 'llm:' */
  prefix?: string
  /** Longest wait for Redis before a decision fails with ERR_STORE_TIMEOUT. @default 500 */
  timeoutMs?: number
  /** How long a request id's answer is remembered, so a resent command is never counted twice. @default 120_000 */
  idempotencyMs?: number
  /** Deny keys known to be over their limit locally, without a round trip, until their retry time. @default true */
  localDenyCache?: boolean
  /** Most decisions sent in one script call; decisions made in the same event-loop turn share a call. @default 64 */
  maxBatch?: number
}

type Scripted = {
  llmLimitConsume(numberOfKeys: number, ...args: (string | number)[]): Promise<string[]>
  llmLimitAdjust(numberOfKeys: number, ...args: (string | number)[]): Promise<number>
}

const ALGORITHM_CODES: Record<StoreAlgorithm, number> = {
  'token-bucket': 1,
  'sliding-window': 2,
  'fixed-window': 3,
  concurrency: 4,
}
const CALENDAR_CODES = { day: 1, month: 2 } as const

/** One slot's answer for one decision. */
interface SlotAnswer {
  allowed: boolean
  now: number
  results: StoreCheckResult[]
}

/** A decision waiting for its batch. */
interface Pending {
  checks: readonly StoreCheck[]
  tag: string
  requestId: string
  resolve(answer: SlotAnswer): void
  reject(error: unknown): void
}

/** Reads one decision's reply: "allowed,now" and 5 numbers per check. */
function parseAnswer(reply: string, count: number): SlotAnswer {
  const parts = reply.split(',')
  const results: StoreCheckResult[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const at = 2 + i * 5
    results[i] = {
      allowed: parts[at] === '1',
      remaining: Number(parts[at + 1]),
      resetAt: Number(parts[at + 2]),
      retryAfterMs: Number(parts[at + 3]),
      window: Number(parts[at + 4]),
    }
  }
  return { allowed: parts[0] === '1', now: Number(parts[1]), results }
}

const tags = new Map<string, string>()

/** A hash tag for an identity: hashed, so no input (`}{`, CRLF, 10 KB, emoji) can break a tag or a key. */
export function hashTag(group: string): string {
  let tag = tags.get(group)
  if (tag === undefined) {
    tag = createHash('sha256').update(group).digest('base64url').slice(0, 22)
    // Hot identities repeat; a bounded memo spares a SHA-256 per check.
    if (tags.size >= 10_000) tags.clear()
    tags.set(group, tag)
  }
  return tag
}

/**
 * A Store on Redis (standalone, Sentinel or Cluster). All checks of a decision run in one Lua script
 * per hash slot (one round trip on a standalone server); the clock is Redis TIME; every key has a
 * TTL; request ids make resent commands idempotent; commands time out and never wait in the
 * offline queue. Across slots (Cluster), checks run per slot in parallel and are compensated on deny.
 * @example
 * const store = redisStore({ client: new Redis({ enableOfflineQueue: false, maxRetriesPerRequest: 1 }) })
 */
export function redisStore(options: RedisStoreOptions): Store & { readonly client: Redis | Cluster } {
  const client = options.client
  if (!client || typeof (client as Redis).defineCommand !== 'function') {
    throw new LlmLimitError(
      'ERR_CONFIG',
      'Expected `redisStore({ client })` to be an ioredis Redis or Cluster instance.',
    )
  }
  const prefix = options.prefix ?? 'llm:'
  const timeoutMs = options.timeoutMs ?? 500
  const idempotencyMs = options.idempotencyMs ?? 120_000
  const maxBatch = options.maxBatch ?? 64
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    throw new LlmLimitError(
      'ERR_CONFIG',
      `Expected \`redisStore({ maxBatch })\` to be a whole number ≥ 1, got ${maxBatch}.`,
    )
  }
  const cluster = (client as Cluster).isCluster === true
  // defineCommand sends EVALSHA and falls back to EVAL on NOSCRIPT, in pipelines too.
  client.defineCommand('llmLimitConsume', { lua: CONSUME_LUA })
  client.defineCommand('llmLimitAdjust', { lua: ADJUST_LUA })
  const scripted = client as unknown as Scripted
  const denied = options.localDenyCache === false ? undefined : new Map<string, Remembered>()

  const keyOf = (check: StoreCheck, tag: string) =>
    `${prefix}{${tag}}:${check.rule ?? createHash('sha256').update(check.key).digest('base64url').slice(0, 22)}`

  /** Runs a command with a deadline, failing fast when the connection is not ready. */
  const call = async <T>(run: () => Promise<T>): Promise<T> => {
    if (client.status !== 'ready') {
      throw new LlmLimitError(
        'ERR_STORE_UNAVAILABLE',
        `Redis is not connected (status '${client.status}'); the decision was not waited for.`,
      )
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new LlmLimitError(
              'ERR_STORE_TIMEOUT',
              `Redis did not answer within ${timeoutMs} ms (timeoutMs).`,
            ),
          ),
        timeoutMs,
      )
    })
    try {
      return await Promise.race([run(), deadline])
    } catch (error) {
      if (error instanceof LlmLimitError) throw error
      throw new LlmLimitError(
        'ERR_STORE',
        `Redis failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      )
    } finally {
      clearTimeout(timer)
    }
  }

  /** Decisions waiting for the next batch, per hash slot (one queue on a standalone server). */
  const queues = new Map<string, Pending[]>()
  let scheduled = false
  const flush = () => {
    scheduled = false
    for (const queue of queues.values()) sendBatch(queue)
    queues.clear()
  }

  /** One script call for a batch of decisions of one slot; each decision stays all-or-nothing. */
  const sendBatch = (batch: Pending[]) => {
    const keys: string[] = []
    const indexes = new Map<string, number>()
    const specs: number[] = []
    const tail: (string | number)[] = []
    const records: string[] = []
    for (const item of batch) {
      records.push(`${prefix}{${item.tag}}:req:${item.requestId}`)
      tail.push(item.requestId, item.checks.length)
      for (const check of item.checks) {
        const key = keyOf(check, item.tag)
        let index = indexes.get(key)
        if (index === undefined) {
          keys.push(key)
          index = keys.length
          indexes.set(key, index)
          specs.push(
            ALGORITHM_CODES[check.algorithm],
            check.limit,
            check.burst,
            check.windowMs,
            check.calendar ? CALENDAR_CODES[check.calendar] : 0,
          )
        }
        tail.push(index, check.cost)
      }
    }
    call(() =>
      scripted.llmLimitConsume(
        keys.length + records.length,
        ...keys,
        ...records,
        idempotencyMs,
        keys.length,
        ...specs,
        ...tail,
      ),
    ).then(
      (replies) => {
        for (let i = 0; i < batch.length; i++)
          batch[i].resolve(parseAnswer(replies[i], batch[i].checks.length))
      },
      (error: unknown) => {
        for (const item of batch) item.reject(error)
      },
    )
  }

  /**
   * Queues checks that share a hash slot for the next batch: decisions made in the same turn of the event
   * loop share one script call (still one round trip each), so Redis is not the bottleneck under load.
   */
  const consumeSlot = (checks: readonly StoreCheck[], tag: string, requestId: string) =>
    new Promise<SlotAnswer>((resolve, reject) => {
      const slot = cluster ? tag : 'all'
      let queue = queues.get(slot)
      if (!queue) {
        queue = []
        queues.set(slot, queue)
      }
      queue.push({ checks, tag, requestId, resolve, reject })
      if (queue.length >= maxBatch) {
        queues.delete(slot)
        sendBatch(queue)
      } else if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    })

  const adjustSlot = (adjustments: readonly StoreAdjustment[], tag: string, id: string, leaseId: string) => {
    const args: (string | number)[] = [`${prefix}{${tag}}:adj:${id}`]
    for (const { check } of adjustments) args.push(keyOf(check, tag))
    args.push(leaseId, idempotencyMs)
    for (const { check, window, delta } of adjustments)
      args.push(ALGORITHM_CODES[check.algorithm], check.limit, check.windowMs, window, delta)
    return call(() => scripted.llmLimitAdjust(adjustments.length + 1, ...args))
  }

  /** Groups items by hash tag: one slot each in Cluster; everything together on a standalone server. */
  const bySlot = <T extends { check: StoreCheck }>(items: readonly T[]) => {
    const slots = new Map<string, { tag: string; items: T[]; indexes: number[] }>()
    items.forEach((item, index) => {
      const tag = hashTag(item.check.group)
      const slot = cluster ? tag : 'all'
      let entry = slots.get(slot)
      if (!entry) {
        entry = { tag, items: [], indexes: [] }
        slots.set(slot, entry)
      }
      entry.items.push(item)
      entry.indexes.push(index)
    })
    return [...slots.values()]
  }

  return {
    name: cluster ? 'redis-cluster' : 'redis',
    client,
    async consume(checks, context: StoreContext): Promise<ConsumeResult> {
      const local = localDenial(checks, denied)
      if (local) return local
      // A standalone server takes keys of any tag in one script; the tag of the first check names the request record.
      const slots = bySlot(checks.map((check) => ({ check })))
      const answers = await Promise.all(
        slots.map((slot) =>
          consumeSlot(
            slot.items.map((item) => item.check),
            slot.tag,
            context.requestId,
          ),
        ),
      )
      const results: StoreCheckResult[] = new Array(checks.length)
      answers.forEach((answer, s) => {
        slots[s].indexes.forEach((index, i) => {
          results[index] = answer.results[i]
        })
      })
      const allowed = answers.every((answer) => answer.allowed)
      if (!allowed && answers.some((answer) => answer.allowed)) {
        // Cluster: slots that admitted were charged; give it back so the decision stays all-or-nothing.
        const refunds: StoreAdjustment[] = []
        answers.forEach((answer, s) => {
          if (!answer.allowed) return
          for (const index of slots[s].indexes) {
            const check = checks[index]
            if (check.cost > 0) refunds.push({ check, window: results[index].window, delta: -check.cost })
          }
        })
        await this.adjust(refunds, { requestId: `${context.requestId}:compensate` })
        for (const refund of refunds) {
          const index = checks.indexOf(refund.check)
          results[index] = { ...results[index], remaining: results[index].remaining + refund.check.cost }
        }
      }
      const now = Math.max(...answers.map((answer) => answer.now))
      const result = { allowed, now, results }
      if (!allowed && denied) remember(checks, result, denied)
      return result
    },
    async adjust(adjustments, context) {
      if (adjustments.length === 0) return
      const slots = bySlot(adjustments)
      await Promise.all(
        slots.map((slot, s) =>
          adjustSlot(slot.items, slot.tag, `${context.requestId}:${s}`, context.requestId),
        ),
      )
      // A refund can free capacity early; cached denials are dropped rather than trusted.
      if (denied && adjustments.some((adjustment) => adjustment.delta < 0)) denied.clear()
    },
    async close() {
      denied?.clear()
    },
  }
}

/** A denial remembered for a combination of keys, until (monotonic ms) a retry could succeed. */
interface Remembered {
  until: number
  at: number
  result: ConsumeResult
}

const identify = (checks: readonly StoreCheck[]) =>
  checks.map((check) => `${check.key}\u0000${check.cost}`).join('\n')

/** Remembers a denial with a known wait, by the app's monotonic clock (a duration, never a time of day). */
function remember(
  checks: readonly StoreCheck[],
  result: ConsumeResult,
  denied: Map<string, Remembered>,
): void {
  const waits = result.results.filter((r) => !r.allowed).map((r) => r.retryAfterMs)
  if (
    waits.length === 0 ||
    waits.some((wait) => wait <= 0) ||
    checks.some((check) => check.algorithm === 'concurrency')
  )
    return
  if (denied.size >= 10_000) denied.clear()
  const now = performance.now()
  // Forget a little early: a local denial must never outlive the real one.
  denied.set(identify(checks), { until: now + Math.min(...waits) * 0.9, at: now, result })
}

/** The same request shape denied moments ago is denied again without a round trip; admits are never cached. */
function localDenial(
  checks: readonly StoreCheck[],
  denied: Map<string, Remembered> | undefined,
): ConsumeResult | undefined {
  if (!denied || denied.size === 0) return undefined
  const key = identify(checks)
  const hit = denied.get(key)
  if (!hit) return undefined
  const now = performance.now()
  if (hit.until <= now) {
    denied.delete(key)
    return undefined
  }
  const elapsed = now - hit.at
  return {
    allowed: false,
    now: hit.result.now + elapsed,
    results: hit.result.results.map((r) =>
      r.allowed ? r : { ...r, retryAfterMs: Math.max(1, Math.ceil(r.retryAfterMs - elapsed)) },
    ),
  }
}
