import type {
  ConsumeResult,
  OperatorStore,
  StoreCheckResult,
  StoreControlChange,
  StoreControls,
} from '@llm-limit/core'
import type { Cluster, Redis } from 'ioredis'
import type { DenyCache } from './deny-cache.js'
import { ADD_LUA, PEEK_LUA, READ_CONTROLS_LUA, WRITE_CONTROL_LUA } from './operator-lua.js'
import { ALGORITHM_CODES, calendarCode, hashTag, keyOf } from './store-core.js'

/** Operator records outlive any window; an untouched one is forgotten after this long (every key has a TTL). */
const CONTROLS_TTL_MS = 400 * 86_400_000

interface OperatorScripts {
  llmLimitPeek(numberOfKeys: number, ...args: (string | number)[]): Promise<number[]>
  llmLimitAdd(numberOfKeys: number, ...args: (string | number)[]): Promise<number>
  llmLimitReadControls(numberOfKeys: number, ...keys: string[]): Promise<[number, ...string[][]]>
  llmLimitWriteControl(numberOfKeys: number, ...args: (string | number)[]): Promise<number>
}

/** What the operator's methods need from the Redis store they belong to. */
export interface OperatorContext {
  readonly client: Redis | Cluster
  readonly prefix: string
  readonly cluster: boolean
  readonly denied: DenyCache | undefined
  /** Runs a command with the store's timeout and connection handling. */
  call<T>(run: () => Promise<T>): Promise<T>
}

/**
 * The operator's methods of a Redis store (peek, clear, add, controls, claims), each one script call per hash
 * slot: an identity's keys share a slot, so in Cluster every identity is one atomic call.
 */
export function operatorMethods(
  context: OperatorContext,
): Required<Omit<OperatorStore, 'readControlsSync' | 'hasControls'>> {
  const { client, prefix, call } = context
  client.defineCommand('llmLimitPeek', { lua: PEEK_LUA })
  client.defineCommand('llmLimitAdd', { lua: ADD_LUA })
  client.defineCommand('llmLimitReadControls', { lua: READ_CONTROLS_LUA })
  client.defineCommand('llmLimitWriteControl', { lua: WRITE_CONTROL_LUA })
  const scripts = client as unknown as OperatorScripts
  const controlsKey = (group: string) => `${prefix}{${hashTag(group)}}:ctl`
  /** Indexes of `items` by slot: all together on a standalone server, per identity in Cluster. */
  const slots = <T>(items: readonly T[], groupOf: (item: T) => string): number[][] => {
    if (!context.cluster) return [items.map((_, i) => i)]
    const bySlot = new Map<string, number[]>()
    items.forEach((item, i) => {
      const tag = hashTag(groupOf(item))
      const list = bySlot.get(tag)
      if (list) list.push(i)
      else bySlot.set(tag, [i])
    })
    return [...bySlot.values()]
  }

  return {
    async peek(checks) {
      const results: StoreCheckResult[] = new Array(checks.length)
      let now = 0
      await Promise.all(
        slots(checks, (check) => check.group).map(async (indexes) => {
          if (indexes.length === 0) return
          const args: (string | number)[] = indexes.map((i) => keyOf(prefix, checks[i]))
          for (const i of indexes) {
            const check = checks[i]
            args.push(
              ALGORITHM_CODES[check.algorithm],
              check.limit,
              check.burst,
              check.windowMs,
              calendarCode(check),
            )
          }
          const reply = await call(() => scripts.llmLimitPeek(indexes.length, ...args))
          now = Number(reply[0])
          indexes.forEach((i, j) => {
            results[i] = {
              allowed: true,
              remaining: Number(reply[1 + 3 * j]),
              resetAt: Number(reply[2 + 3 * j]),
              retryAfterMs: 0,
              window: Number(reply[3 + 3 * j]),
            }
          })
        }),
      )
      return { allowed: true, now, results } satisfies ConsumeResult
    },
    async forget(checks) {
      await Promise.all(
        slots(checks, (check) => check.group).map((indexes) => {
          const keys = indexes.flatMap((i) => {
            const key = keyOf(prefix, checks[i])
            return [key, `${key}:pend`]
          })
          return keys.length === 0 ? undefined : call(() => client.del(...keys))
        }),
      )
      context.denied?.clear()
    },
    async add(checks, deltas) {
      await Promise.all(
        slots(checks, (check) => check.group).map((indexes) => {
          if (indexes.length === 0) return undefined
          const args: (string | number)[] = indexes.map((i) => keyOf(prefix, checks[i]))
          for (const i of indexes) {
            const check = checks[i]
            args.push(
              ALGORITHM_CODES[check.algorithm],
              check.limit,
              check.windowMs,
              calendarCode(check),
              deltas[i],
            )
          }
          return call(() => scripts.llmLimitAdd(indexes.length, ...args))
        }),
      )
      context.denied?.clear()
    },
    async readControls(groups) {
      const controls: StoreControls[] = new Array(groups.length)
      await Promise.all(
        slots(groups, (group) => group).map(async (indexes) => {
          if (indexes.length === 0) return
          const reply = await call(() =>
            scripts.llmLimitReadControls(indexes.length, ...indexes.map((i) => controlsKey(groups[i]))),
          )
          const now = Number(reply[0])
          indexes.forEach((i, j) => {
            controls[i] = parseControls(reply[1 + j] as string[], now)
          })
        }),
      )
      return controls
    },
    async writeControl(group, change: StoreControlChange) {
      const key = controlsKey(group)
      const args: (string | number)[] =
        change.kind === 'limit'
          ? ['limit', change.rule, change.value ?? '', '']
          : change.block === undefined
            ? ['block', '', '', '']
            : ['block', Math.max(1, Math.ceil(change.block.ms)), change.block.status, change.block.reason]
      const ttl =
        change.kind === 'block' && change.block
          ? Math.max(CONTROLS_TTL_MS, change.block.ms + 1000)
          : CONTROLS_TTL_MS
      await call(() => scripts.llmLimitWriteControl(1, key, ...args, Math.ceil(ttl)))
      context.denied?.clear()
    },
    async claimOnce(group, marker, ttlMs) {
      const key = `${prefix}{${hashTag(group)}}:once:${marker}`
      const set = await call(() => client.set(key, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'))
      return set === 'OK'
    },
  }
}

const NO_LIMITS: Readonly<Record<string, number>> = Object.freeze({})

function parseControls(fields: readonly string[], now: number): StoreControls {
  let limits: Record<string, number> | undefined
  let block: StoreControls['block']
  for (let j = 0; j + 1 < fields.length; j += 2) {
    const field = fields[j]
    const value = fields[j + 1]
    if (field.startsWith('l:')) {
      limits ??= {}
      limits[field.slice(2)] = Number(value)
    } else if (field === 'b') {
      const first = value.indexOf('|')
      const second = value.indexOf('|', first + 1)
      const untilMs = Number(value.slice(0, first))
      if (untilMs > now) {
        block = { untilMs, status: Number(value.slice(first + 1, second)), reason: value.slice(second + 1) }
      }
    }
  }
  return { limits: limits ?? NO_LIMITS, block }
}
