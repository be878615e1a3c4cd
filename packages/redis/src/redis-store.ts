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
  /**
   * Most decisions sent in one script call; decisions made in the same event-loop turn share a call.
   * Smaller batches keep several calls in flight, so Node encodes and reads one while Redis runs another. @default 32
   */
  maxBatch?: number
}

type Scripted = {
  llmLimitConsume(args: (string | number)[]): Promise<number[]>
  llmLimitAdjust(numberOfKeys: number, ...args: (string | number)[]): Promise<number>
}

const ALGORITHM_CODES: Record<StoreAlgorithm, number> = {
  'token-bucket': 1,
  'sliding-window': 2,
  'fixed-window': 3,
  concurrency: 4,
}
const CALENDAR_CODES = { day: 1, month: 2 } as const
/** Most decisions in one script call: the script passes a batch's request ids to one HMGET. */
const MAX_BATCH = 1000

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
      results[i] = {
        allowed: true,
        remaining: reply[at],
        resetAt: reply[at + 1],
        retryAfterMs: 0,
        window: reply[keys[i]],
      }
  } else if (flag === 0) {
    result.allowed = false
    for (let i = 0; i < count; i++, at += 4)
      results[i] = {
        allowed: reply[at] === 1,
        remaining: reply[at + 1],
        resetAt: reply[at + 2],
        retryAfterMs: reply[at + 3],
        window: reply[keys[i]],
      }
  } else {
    // Admitted earlier under this request id (a resent command): nothing was charged again.
    for (let i = 0; i < count; i++, at += 3)
      results[i] = {
        allowed: true,
        remaining: reply[at],
        resetAt: reply[at + 1],
        retryAfterMs: 0,
        window: reply[at + 2],
      }
  }
  return at
}

const NO_KEYS: number[] = []

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
  const client = (options as RedisStoreOptions | undefined)?.client
  if (!client || typeof (client as Redis).defineCommand !== 'function') {
    throw new LlmLimitError(
      'ERR_CONFIG',
      'Expected `redisStore({ client })` to be an ioredis Redis or Cluster instance.',
    )
  }
  const prefix = options.prefix ?? 'llm:'
  if (typeof prefix !== 'string' || prefix.length > 64 || /[{}\s]/.test(prefix)) {
    throw new LlmLimitError(
      'ERR_CONFIG',
      `Expected \`redisStore({ prefix })\` to be at most 64 characters without spaces, '{' or '}' (which would move every key into one Cluster slot), got ${JSON.stringify(String(prefix).slice(0, 80))}.`,
    )
  }
  const timeoutMs = options.timeoutMs ?? 500
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) {
    throw new LlmLimitError(
      'ERR_CONFIG',
      `Expected \`redisStore({ timeoutMs })\` to be a whole number of milliseconds from 1 to 60000, got ${typeof timeoutMs === 'number' ? String(timeoutMs) : JSON.stringify(timeoutMs)}.`,
    )
  }
  const idempotencyMs = options.idempotencyMs ?? 120_000
  const maxBatch = options.maxBatch ?? 32
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > MAX_BATCH) {
    throw new LlmLimitError(
      'ERR_CONFIG',
      `Expected \`redisStore({ maxBatch })\` to be a whole number from 1 to ${MAX_BATCH}, got ${maxBatch}.`,
    )
  }
  if (!Number.isInteger(idempotencyMs) || idempotencyMs < 1) {
    throw new LlmLimitError(
      'ERR_CONFIG',
      `Expected \`redisStore({ idempotencyMs })\` to be a whole number of milliseconds ≥ 1, got ${idempotencyMs}.`,
    )
  }
  const cluster = (client as Cluster).isCluster === true
  // defineCommand sends EVALSHA and falls back to EVAL on NOSCRIPT, in pipelines too.
  client.defineCommand('llmLimitConsume', { lua: CONSUME_LUA })
  client.defineCommand('llmLimitAdjust', { lua: ADJUST_LUA })
  const scripted = client as unknown as Scripted
  const denied = options.localDenyCache === false ? undefined : new Map<string, Remembered>()

  // Each check's key carries its own identity's tag, also when a standalone decision mixes identities.
  const keyOf = (check: StoreCheck) =>
    `${prefix}{${hashTag(check.group)}}:${check.rule ?? createHash('sha256').update(check.key).digest('base64url').slice(0, 22)}`

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

  /**
   * One script call for a batch of decisions of one slot; each decision stays all-or-nothing. Decisions with the
   * same checks as the one before share an encoded shape, so a hot identity costs two numbers and an id per decision.
   */
  const sendBatch = (batch: Pending[]) => {
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
        const name = `${prefix}{${item.tag}}:ids`
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
          const key = keyOf(check)
          let index = keyIndexes.get(key)
          if (index === undefined) {
            index = keys.push(key)
            keyIndexes.set(key, index)
            specs.push(
              ALGORITHM_CODES[check.algorithm],
              check.limit,
              check.burst,
              check.windowMs,
              check.calendar ? CALENDAR_CODES[check.calendar] : 0,
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
      idempotencyMs,
      keys.length,
      specs,
      shapeCount,
      shapes,
      batch.length,
      decisions,
      ids,
    )
    call(() => scripted.llmLimitConsume(args)).then(
      (reply) => {
        const now = reply[0]
        let at = 1 + keys.length
        for (let i = 0; i < batch.length; i++) {
          const item = batch[i]
          const result: ConsumeResult = { allowed: true, now, results: new Array(item.keys.length) }
          at = readDecision(reply, at, item.keys, result)
          if (!result.allowed && item.whole && denied) remember(item.checks, result, denied)
          item.resolve(result)
        }
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
  const consumeSlot = (checks: readonly StoreCheck[], tag: string, requestId: string, whole: boolean) =>
    new Promise<ConsumeResult>((resolve, reject) => {
      const slot = cluster ? tag : 'all'
      let queue = queues.get(slot)
      if (!queue) {
        queue = []
        queues.set(slot, queue)
      }
      queue.push({ checks, tag, requestId, whole, keys: NO_KEYS, resolve, reject })
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
    for (const { check } of adjustments) args.push(keyOf(check))
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

  /** Checks on several hash slots (Cluster, several identities): per slot in parallel, compensated on deny. */
  const consumeAcrossSlots = async (
    checks: readonly StoreCheck[],
    context: StoreContext,
  ): Promise<ConsumeResult> => {
    const slots = bySlot(checks.map((check) => ({ check })))
    const answers = await Promise.all(
      slots.map((slot) =>
        consumeSlot(
          slot.items.map((item) => item.check),
          slot.tag,
          context.requestId,
          false,
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
      // Slots that admitted were charged; give it back so the decision stays all-or-nothing.
      const refunds: StoreAdjustment[] = []
      answers.forEach((answer, s) => {
        if (!answer.allowed) return
        for (const index of slots[s].indexes) {
          const check = checks[index]
          if (check.cost > 0) refunds.push({ check, window: results[index].window, delta: -check.cost })
        }
      })
      await store.adjust(refunds, { requestId: `${context.requestId}:compensate` })
      for (const refund of refunds) {
        const index = checks.indexOf(refund.check)
        results[index] = { ...results[index], remaining: results[index].remaining + refund.check.cost }
      }
    }
    const now = Math.max(...answers.map((answer) => answer.now))
    const result = { allowed, now, results }
    if (!allowed && denied) remember(checks, result, denied)
    return result
  }

  const store: Store & { readonly client: Redis | Cluster } = {
    name: cluster ? 'redis-cluster' : 'redis',
    client,
    consume(checks, context: StoreContext): Promise<ConsumeResult> {
      const local = localDenial(checks, denied)
      if (local) return Promise.resolve(local)
      const count = checks.length
      if (count === 0) return consumeAcrossSlots(checks, context)
      const group = checks[0].group
      // One script call when every check fits one slot: always on a standalone server, one identity in Cluster.
      if (cluster) {
        for (let i = 1; i < count; i++)
          if (checks[i].group !== group) return consumeAcrossSlots(checks, context)
      }
      return consumeSlot(checks, hashTag(group), context.requestId, true)
    },
    deniedLocally: (checks) => localDenial(checks, denied),
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
  return store
}

/** A denial remembered for a combination of keys, until (monotonic ms) a retry could succeed. */
interface Remembered {
  until: number
  at: number
  result: ConsumeResult
}

/** Deny-cache keys of check lists (the engine reuses one list per identity for request rules), with what they were made from. */
const IDENTIFIED = new WeakMap<
  readonly StoreCheck[],
  { key: string; checks: StoreCheck[]; costs: number[] }
>()

const identify = (checks: readonly StoreCheck[]): string => {
  const known = IDENTIFIED.get(checks)
  // A list is only trusted while it holds the same checks with the same costs as when its key was made.
  if (known !== undefined && known.checks.length === checks.length) {
    let same = true
    for (let i = 0; i < checks.length && same; i++)
      same = known.checks[i] === checks[i] && known.costs[i] === checks[i].cost
    if (same) return known.key
  }
  const key = checks.map((check) => `${check.key}\u0000${check.cost}`).join('\n')
  IDENTIFIED.set(checks, { key, checks: checks.slice(), costs: checks.map((check) => check.cost) })
  return key
}

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
