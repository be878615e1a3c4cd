import {
  type ConsumeResult,
  LlmLimitError,
  type Store,
  type StoreAdjustment,
  type StoreCheck,
  type StoreContext,
} from '@llm-limit/core'
import type { Cluster, Redis } from 'ioredis'
import { Batcher, MAX_BATCH } from './batcher.js'
import { Connection, epochNow } from './connection.js'
import { CONSUME_LUA } from './consume-lua.js'
import { consumeAcrossSlots, pastPending } from './cross-slot.js'
import { DenyCache } from './deny-cache.js'
import { ADJUST_LUA, UNDO_LUA, UNMARK_LUA } from './lua.js'
import { operatorMethods } from './operator.js'
import { type Settlement, SettlementQueue } from './settlement-queue.js'
import { ALGORITHM_CODES, hashTag, keyOf, Mode, type Scripted, type StoreCore, UNSENT } from './store-core.js'

export { hashTag }

/** Options of `redisStore()`. */
export interface RedisStoreOptions {
  /** An ioredis `Redis` or `Cluster`; create it with `enableOfflineQueue: false` (see docs/stores.md). */
  client: Redis | Cluster
  /** Prefix of every key. @default 'llm:' */
  prefix?: string
  /**
   * Longest wait for Redis before a decision fails with ERR_STORE_TIMEOUT, a first connection included; a command
   * that reaches Redis later is not applied. @default 500
   */
  timeoutMs?: number
  /** How long a request id's answer is remembered, so a resent command is never counted twice. @default 120_000 */
  idempotencyMs?: number
  /** Deny keys known to be over their limit locally, without a round trip, until their retry time. @default true */
  localDenyCache?: boolean
  /**
   * Longest a locally remembered denial is trusted: a refund made by another process is honoured here within this
   * many ms (this process's own refunds at once). @default 1000
   */
  localDenyMs?: number
  /**
   * Most decisions sent in one script call; decisions made in the same event-loop turn share a call.
   * Smaller batches keep several calls in flight, so Node encodes and reads one while Redis runs another. @default 32
   */
  maxBatch?: number
  /** Monotonic clock (ms) of the local deny cache and of settlement retries; tests inject one. @default performance.now */
  now?: () => number
}

/** A Redis store, with what it still owes Redis. */
export interface RedisStore extends Store {
  readonly client: Redis | Cluster
  /** Settlements (releases, corrections, undos of failed decisions) not yet landed in Redis, kept and retried. */
  pendingSettlements(): number
}

const configError = (message: string) => new LlmLimitError('ERR_CONFIG', message)

/**
 * A Store on Redis (standalone, Sentinel or Cluster). All checks of a decision run in one Lua script
 * per hash slot (one round trip on a standalone server); the clock is Redis TIME; every key has a
 * TTL; request ids make resent commands idempotent; commands time out and never wait in the
 * offline queue, though a client still making its first connection is waited for. A decision the caller is told
 * failed is never charged; settlements survive a disconnect. Across slots (Cluster), checks run per slot in parallel
 * and are undone exactly on deny.
 * @example
 * const store = redisStore({ client: new Redis({ enableOfflineQueue: false, maxRetriesPerRequest: 1 }) })
 */
export function redisStore(options: RedisStoreOptions): RedisStore {
  const client = (options as RedisStoreOptions | undefined)?.client
  if (!client || typeof (client as Redis).defineCommand !== 'function') {
    throw configError('Expected `redisStore({ client })` to be an ioredis Redis or Cluster instance.')
  }
  const prefix = options.prefix ?? 'llm:'
  if (typeof prefix !== 'string' || prefix.length > 64 || /[{}\s]/.test(prefix)) {
    throw configError(
      `Expected \`redisStore({ prefix })\` to be at most 64 characters without spaces, '{' or '}' (which would move every key into one Cluster slot), got ${JSON.stringify(String(prefix).slice(0, 80))}.`,
    )
  }
  const timeoutMs = options.timeoutMs ?? 500
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) {
    throw configError(
      `Expected \`redisStore({ timeoutMs })\` to be a whole number of milliseconds from 1 to 60000, got ${typeof timeoutMs === 'number' ? String(timeoutMs) : JSON.stringify(timeoutMs)}.`,
    )
  }
  const idempotencyMs = options.idempotencyMs ?? 120_000
  const maxBatch = options.maxBatch ?? 32
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > MAX_BATCH) {
    throw configError(
      `Expected \`redisStore({ maxBatch })\` to be a whole number from 1 to ${MAX_BATCH}, got ${maxBatch}.`,
    )
  }
  if (!Number.isInteger(idempotencyMs) || idempotencyMs < 1) {
    throw configError(
      `Expected \`redisStore({ idempotencyMs })\` to be a whole number of milliseconds ≥ 1, got ${idempotencyMs}.`,
    )
  }
  const localDenyMs = options.localDenyMs ?? 1000
  if (typeof localDenyMs !== 'number' || !(localDenyMs >= 0)) {
    throw configError(
      `Expected \`redisStore({ localDenyMs })\` to be a number of milliseconds ≥ 0, got ${String(localDenyMs)}.`,
    )
  }
  const now = options.now ?? (() => performance.now())
  if (typeof now !== 'function')
    throw configError('Expected `redisStore({ now })` to be a function returning monotonic milliseconds.')

  // defineCommand sends EVALSHA and falls back to EVAL on NOSCRIPT, in pipelines too.
  client.defineCommand('llmLimitConsume', { lua: CONSUME_LUA })
  client.defineCommand('llmLimitAdjust', { lua: ADJUST_LUA })
  client.defineCommand('llmLimitUndo', { lua: UNDO_LUA })
  client.defineCommand('llmLimitUnmark', { lua: UNMARK_LUA })
  const settlements = new SettlementQueue(now)
  const connection = new Connection(client, () => settlements.flush())
  const denied =
    options.localDenyCache === false || localDenyMs === 0 ? undefined : new DenyCache(now, localDenyMs)

  /** Sends a command with the time left of `timeoutMs`, carrying the Redis time by which it must run. */
  const send = async <T>(run: (deadline: number) => Promise<T>, started: number): Promise<T> => {
    const giveUpAt = started + timeoutMs
    const left = giveUpAt - epochNow()
    if (left <= 0) {
      const late = new LlmLimitError(
        'ERR_STORE_TIMEOUT',
        `Redis did not connect within ${timeoutMs} ms (timeoutMs).`,
      )
      UNSENT.add(late)
      throw late
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new LlmLimitError(
              'ERR_STORE_TIMEOUT',
              `Redis did not answer within ${timeoutMs} ms (timeoutMs).`,
            ),
          ),
        left,
      )
    })
    try {
      return await Promise.race([run(connection.deadline(giveUpAt)), expired])
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

  const core: StoreCore = {
    prefix,
    cluster: (client as Cluster).isCluster === true,
    timeoutMs,
    idempotencyMs,
    markMs: Math.max(1000, 4 * timeoutMs),
    scripted: client as unknown as Scripted,
    settlements,
    denied,
    now,
    observe: (redisNow) => connection.observe(redisNow, epochNow()),
    call<T>(run: (deadline: number) => Promise<T>): Promise<T> {
      const started = epochNow()
      const waiting = connection.whenReady(timeoutMs)
      if (waiting === undefined) return send(run, started)
      return waiting.then(
        () => send(run, started),
        (error: unknown) => {
          if (typeof error === 'object' && error !== null) UNSENT.add(error)
          throw error
        },
      )
    },
  }
  const batcher = new Batcher(core, maxBatch)

  /** One slot's corrections as a settlement: deltas once per id; after the id's record may be gone, releases only. */
  const adjustment = (
    items: readonly StoreAdjustment[],
    tag: string,
    id: string,
    leaseId: string,
  ): Settlement => {
    const leases = items.filter(({ check }) => check.algorithm === 'concurrency')
    const leaseTtl = Math.max(0, ...leases.map(({ check }) => check.windowMs))
    const encode = (list: readonly StoreAdjustment[]) => {
      const args: (string | number)[] = [list.length + 1, `${prefix}{${tag}}:adj:${id}`]
      for (const { check } of list) args.push(keyOf(prefix, check))
      args.push(leaseId, idempotencyMs)
      for (const { check, window, delta } of list)
        args.push(ALGORITHM_CODES[check.algorithm], check.limit, check.windowMs, window, delta)
      return args as [number, ...(string | number)[]]
    }
    const all = encode(items)
    const releases = leases.length === items.length ? all : encode(leases)
    return {
      mootAfterMs: Math.max(idempotencyMs * 0.9, leaseTtl),
      send(elapsed) {
        // Past the record's life a resent delta could apply twice; a lease release (ZREM) never can.
        const args = elapsed < idempotencyMs * 0.9 ? all : leases.length > 0 ? releases : undefined
        if (args === undefined) return undefined
        return core.call(() => core.scripted.llmLimitAdjust(...args))
      },
    }
  }

  const consumeWhole = (checks: readonly StoreCheck[], tag: string, requestId: string) => {
    if (!core.cluster) return batcher.consume(checks, tag, requestId, true, Mode.plain)
    const started = epochNow()
    return pastPending(() => batcher.consume(checks, tag, requestId, true, Mode.mindful), started, timeoutMs)
  }

  const store: RedisStore = {
    name: core.cluster ? 'redis-cluster' : 'redis',
    client,
    consume(checks, context: StoreContext): Promise<ConsumeResult> {
      const local = denied?.lookup(checks)
      if (local) return Promise.resolve(local)
      const count = checks.length
      if (count === 0) return consumeAcrossSlots(core, batcher, checks, context.requestId)
      const group = checks[0].group
      // One script call when every check fits one slot: always on a standalone server, one identity in Cluster.
      if (core.cluster) {
        for (let i = 1; i < count; i++)
          if (checks[i].group !== group) return consumeAcrossSlots(core, batcher, checks, context.requestId)
      }
      return consumeWhole(checks, hashTag(group), context.requestId)
    },
    deniedLocally: (checks) => denied?.lookup(checks),
    async adjust(adjustments, context) {
      if (adjustments.length === 0) return
      const slots = new Map<string, { tag: string; items: StoreAdjustment[] }>()
      for (const item of adjustments) {
        const tag = hashTag(item.check.group)
        const slot = core.cluster ? tag : 'all'
        let entry = slots.get(slot)
        if (!entry) {
          entry = { tag, items: [] }
          slots.set(slot, entry)
        }
        entry.items.push(item)
      }
      const sent = [...slots.values()].map((slot, s) =>
        settlements.submit(adjustment(slot.items, slot.tag, `${context.requestId}:${s}`, context.requestId)),
      )
      const outcomes = await Promise.allSettled(sent)
      // A refund can free capacity early; cached denials are dropped rather than trusted.
      if (denied && adjustments.some((adjustment) => adjustment.delta < 0)) denied.clear()
      const failed = outcomes.find((outcome) => outcome.status === 'rejected')
      if (failed) {
        const reason = (failed as PromiseRejectedResult).reason
        throw new LlmLimitError(
          'ERR_STORE',
          `A settlement did not reach Redis (${reason instanceof Error ? reason.message : String(reason)}); it is kept and retried until Redis answers or its lease and window have expired.`,
          { cause: reason },
        )
      }
    },
    pendingSettlements: () => settlements.size,
    // The operator's API (peek, reset, setLimit, block, thresholds): operator.ts.
    ...operatorMethods({ client, prefix, cluster: core.cluster, denied, call: (run) => core.call(run) }),
    async close() {
      denied?.clear()
      settlements.close()
      connection.close()
    },
  }
  return store
}
