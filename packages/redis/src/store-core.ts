import { createHash } from 'node:crypto'
import { type StoreAlgorithm, type StoreCheck, zonedBoundaries } from '@llm-limit/core'
import type { DenyCache } from './deny-cache.js'
import type { SettlementQueue } from './settlement-queue.js'

/** The scripts, as ioredis commands (EVALSHA with NOSCRIPT recovery). */
export interface Scripted {
  llmLimitConsume(args: (string | number)[]): Promise<number[]>
  llmLimitAdjust(numberOfKeys: number, ...args: (string | number)[]): Promise<number>
  llmLimitUndo(numberOfKeys: number, ...args: (string | number)[]): Promise<number>
  llmLimitUnmark(numberOfKeys: number, ...args: (string | number)[]): Promise<number>
}

/** How a consume script call treats pending charges (see CONSUME_LUA). */
export const Mode = {
  /** Standalone: every decision is one atomic call; nothing is ever pending. */
  plain: 0,
  /** Cluster, a decision within one slot: a denial says whether others' pending charges caused it. */
  mindful: 1,
  /** Cluster, one slot of a decision across slots: what it charges stays pending until final or undone. */
  tentative: 2,
} as const

/** A consume mode code. */
export type Mode = (typeof Mode)[keyof typeof Mode]

/** What the parts of a Redis store share, resolved once at construction. */
export interface StoreCore {
  readonly prefix: string
  readonly cluster: boolean
  readonly timeoutMs: number
  readonly idempotencyMs: number
  /** How long a pending marker lives when its decision never says final or undone (a crashed process). */
  readonly markMs: number
  readonly scripted: Scripted
  readonly settlements: SettlementQueue
  readonly denied: DenyCache | undefined
  /** Monotonic ms. */
  now(): number
  /** Learns Redis's clock from a reply's Redis time (epoch ms), read just now. */
  observe(redisNow: number): void
  /** Runs a command when the client may send it, with the timeout and a deadline in Redis time. */
  call<T>(run: (deadline: number) => Promise<T>): Promise<T>
}

/** Algorithm codes of the scripts. */
export const ALGORITHM_CODES: Record<StoreAlgorithm, number> = {
  'token-bucket': 1,
  'sliding-window': 2,
  'fixed-window': 3,
  concurrency: 4,
}

/** Calendar codes of the scripts (0: none). */
export const CALENDAR_CODES = { day: 1, month: 2, week: 3 } as const

/** The bounds last sent per zone and period, valid while the app's clock stays in the period they were made in. */
const zoned = new Map<string, { from: number; until: number; code: string }>()

/**
 * A check's calendar as the scripts take it: 0 for a rolling window, a code for a UTC period, and for a zoned period
 * the bounds of the previous, current and next local periods by the app's clock ('b0,b1,b2,b3', epoch ms), among
 * which the script picks the one holding Redis's own time, so app clocks that differ by less than a period agree.
 */
export function calendarCode(check: {
  calendar?: keyof typeof CALENDAR_CODES
  timeZone?: string
}): number | string {
  if (check.calendar === undefined) return 0
  if (check.timeZone === undefined) return CALENDAR_CODES[check.calendar]
  const now = Date.now()
  const name = `${check.calendar}|${check.timeZone}`
  let sent = zoned.get(name)
  if (sent === undefined || now < sent.from || now >= sent.until) {
    const bounds = zonedBoundaries(check.calendar, now, check.timeZone)
    if (zoned.size >= 1000) zoned.clear()
    sent = { from: bounds[1], until: bounds[2], code: bounds.join(',') }
    zoned.set(name, sent)
  }
  return sent.code
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

/** The state key of a check: each key carries its own identity's tag, also when a standalone decision mixes identities. */
export const keyOf = (prefix: string, check: StoreCheck): string =>
  `${prefix}{${hashTag(check.group)}}:${check.rule ?? createHash('sha256').update(check.key).digest('base64url').slice(0, 22)}`

/** The request-record base of an identity's tag. */
export const recordsOf = (prefix: string, tag: string): string => `${prefix}{${tag}}:ids`

/** Errors of commands that were never sent (or that Redis refused to apply: past their deadline). */
export const UNSENT = new WeakSet<object>()

/**
 * Whether a failed command may still have reached Redis (so what it did must be undone): false only when it was
 * never sent (not connected, or refused by ioredis before writing it).
 */
export function mayHaveApplied(error: unknown): boolean {
  if (typeof error === 'object' && error !== null && UNSENT.has(error)) return false
  const cause = (error as { cause?: unknown } | undefined)?.cause
  return !(cause instanceof Error && /enableOfflineQueue/.test(cause.message))
}
