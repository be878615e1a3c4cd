import { Entry } from '../algorithms/entry.js'
import { fixedWindow } from '../algorithms/fixed-window.js'
import { ALGORITHMS } from '../algorithms/index.js'
import { slidingWindow } from '../algorithms/sliding-window.js'
import { tokenBucket } from '../algorithms/token-bucket.js'
import { configError } from '../errors.js'
import type {
  ConsumeResult,
  Store,
  StoreAdjustment,
  StoreCheck,
  StoreCheckResult,
  StoreContext,
} from './store.js'

/** Options of `memoryStore()`. */
export interface MemoryStoreOptions {
  /** Most identities (groups of keys) kept; a least-recently-used one that is not currently limited is evicted first. @default 100_000 */
  maxKeys?: number
  /** Clock in epoch ms; inject a fake one in tests. @default a monotonic clock anchored to the epoch */
  now?: () => number
}

const SCRATCH: KeyState[] = []

/** Calls each algorithm directly, so the compiler can inline the hot ones instead of a lookup per check. */
function inspect(entry: Entry, check: StoreCheck, now: number, out: StoreCheckResult): void {
  switch (check.algorithm) {
    case 'token-bucket':
      tokenBucket.inspect(entry, check, now, out)
      return
    case 'sliding-window':
      slidingWindow.inspect(entry, check, now, out)
      return
    case 'fixed-window':
      fixedWindow.inspect(entry, check, now, out)
      return
    default:
      ALGORITHMS[check.algorithm].inspect(entry, check, now, out)
  }
}

function charge(entry: Entry, check: StoreCheck, now: number, out: StoreCheckResult, leaseId: string): void {
  switch (check.algorithm) {
    case 'token-bucket':
      tokenBucket.charge(entry, check, now, out, leaseId)
      return
    case 'sliding-window':
      slidingWindow.charge(entry, check, now, out, leaseId)
      return
    case 'fixed-window':
      fixedWindow.charge(entry, check, now, out, leaseId)
      return
    default:
      ALGORITHMS[check.algorithm].charge(entry, check, now, out, leaseId)
  }
}

/** Monotonic epoch-ms clock: wall-clock jumps never move a window backwards. */
const ORIGIN = performance.timeOrigin
// Node's global `performance` is a lazy getter; reading it once halves the cost of every clock read.
const clock = performance
const monotonicNow = (): number => ORIGIN + clock.now()

/**
 * The keys of one identity. A request's rules share an identity, so the identity string is hashed
 * once per decision and its rules are found by comparing interned rule names.
 */
class Group {
  readonly names: string[] = []
  readonly entries: KeyState[] = []
  /** Looked up by name since eviction last passed it (a key found through a check's slot marks itself instead). */
  recent = false
  /** Until when (epoch ms) one of its keys is denied; eviction never frees it before then. */
  limitedUntil = 0

  constructor(private readonly owner: Map<string, Group>) {}

  find(name: string, create: boolean): KeyState | undefined {
    const names = this.names
    for (let i = 0; i < names.length; i++) if (names[i] === name) return this.entries[i]
    if (!create) return undefined
    const entry = new KeyState(this, this.owner)
    names.push(name)
    this.entries.push(entry)
    return entry
  }

  /** Used since eviction last passed it, so it gets a second chance (CLOCK approximation of LRU); clears the marks. */
  takeRecent(): boolean {
    let recent = this.recent
    this.recent = false
    for (const entry of this.entries) {
      if (entry.recent) recent = true
      entry.recent = false
    }
    return recent
  }

  /** Evicted: the checks that still hold its keys' state must look them up again. */
  drop(): void {
    for (const entry of this.entries) entry.owner = undefined
  }
}

/** The state of one key, with its group; a check keeps it as its `slot` while the store holds it. */
class KeyState extends Entry {
  /** Used through a check's slot since eviction last passed its group; marking the key, which the check reads anyway, spares a cache miss on the group. */
  recent = false

  constructor(
    readonly group: Group,
    /** The map of the store that holds the key; undefined once evicted, so a stale slot is never used. */
    public owner: Map<string, Group> | undefined,
  ) {
    super()
  }
}

/**
 * A bounded in-process store: a Map with CLOCK (second-chance) eviction, no timer per key, and
 * every decision synchronous and therefore atomic.
 */
export class MemoryStore implements Store {
  /** Store name for logs and metrics. */
  readonly name = 'memory'
  private readonly groups = new Map<string, Group>()
  private readonly maxKeys: number
  private readonly now: () => number
  private cursor: MapIterator<[string, Group]>

  constructor(options: MemoryStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? 100_000
    if (!Number.isInteger(maxKeys) || maxKeys < 1) {
      configError(`Expected \`memoryStore({ maxKeys })\` to be a positive integer, got ${String(maxKeys)}.`)
    }
    this.maxKeys = maxKeys
    this.now = options.now ?? monotonicNow
    this.cursor = this.groups.entries()
  }

  /** Number of identities currently held. */
  get size(): number {
    return this.groups.size
  }

  consumeSync(checks: readonly StoreCheck[], context: StoreContext): ConsumeResult {
    const now = this.now()
    const count = checks.length
    const results: StoreCheckResult[] = new Array(count)
    // Decisions are synchronous, so one scratch list serves every call (stale slots hold a few entries at most).
    const entries = SCRATCH
    let allowed = true
    const groups = this.groups
    let group: Group | undefined
    let groupName = ''
    for (let i = 0; i < count; i++) {
      const check = checks[i]
      const slot = check.slot as KeyState | undefined
      let entry: KeyState
      // Only this store's live keys have this owner, whatever else a slot may hold.
      if (slot !== undefined && slot !== null && slot.owner === groups) {
        // A returning identity's checks hold their keys' state: no hashing, no search.
        entry = slot
        entry.recent = true
      } else {
        // Checks of one identity reuse the group without hashing its name again.
        if (group === undefined || check.group !== groupName) {
          groupName = check.group
          group = this.group(groupName, true) as Group
        }
        entry = group.find(check.rule ?? check.key, true) as KeyState
        try {
          check.slot = entry
        } catch {
          // A frozen check cannot keep it; it is looked up each time instead.
        }
      }
      const out: StoreCheckResult = { allowed: true, remaining: 0, resetAt: now, retryAfterMs: 0, window: 0 }
      inspect(entry, check, now, out)
      if (!out.allowed) {
        allowed = false
        // Keep limited identities through eviction until they could be admitted again.
        const until = out.retryAfterMs < 0 ? out.resetAt : now + out.retryAfterMs
        if (until > entry.group.limitedUntil) entry.group.limitedUntil = until
      }
      results[i] = out
      entries[i] = entry
    }
    if (allowed) {
      for (let i = 0; i < count; i++) {
        const check = checks[i]
        // Only leases need the request id, and reading it is what makes one.
        const leaseId = check.algorithm === 'concurrency' ? context.requestId : ''
        charge(entries[i], check, now, results[i], leaseId)
      }
    }
    if (this.groups.size > this.maxKeys) this.evict(now)
    return { allowed, now, results }
  }

  consume(checks: readonly StoreCheck[], context: StoreContext): Promise<ConsumeResult> {
    try {
      return Promise.resolve(this.consumeSync(checks, context))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  adjust(adjustments: readonly StoreAdjustment[], context: StoreContext): Promise<void> {
    const now = this.now()
    for (const { check, window, delta } of adjustments) {
      const entry = this.group(check.group, false)?.find(check.rule ?? check.key, false)
      if (entry) ALGORITHMS[check.algorithm].adjust(entry, check, window, delta, now, context.requestId)
    }
    return Promise.resolve()
  }

  /** Drops every key (for tests and resets). */
  clear(): void {
    for (const group of this.groups.values()) group.drop()
    this.groups.clear()
  }

  async close(): Promise<void> {
    this.clear()
  }

  private group(name: string, create: boolean): Group | undefined {
    let group = this.groups.get(name)
    if (group !== undefined) group.recent = true
    else if (create) {
      group = new Group(this.groups)
      this.groups.set(name, group)
    }
    return group
  }

  /**
   * Frees identities in insertion order, CLOCK style: one used since the last pass, or one that is
   * currently limited, moves to the young end instead (so limited keys are never forgotten).
   */
  private evict(now: number): void {
    const groups = this.groups
    let budget = 64 + 2 * (groups.size - this.maxKeys)
    while (groups.size > this.maxKeys && budget-- > 0) {
      // One long-lived iterator: a fresh one would rescan every deleted slot at the old end each time.
      let next = this.cursor.next()
      if (next.done) {
        this.cursor = groups.entries()
        next = this.cursor.next()
        if (next.done) return
      }
      const [name, group] = next.value
      if (groups.get(name) !== group) continue
      groups.delete(name)
      if (group.takeRecent() || group.limitedUntil > now) {
        groups.set(name, group)
      } else group.drop()
    }
  }
}

/**
 * Creates an in-memory store for a single process.
 * @example
 * const limiter = createLimiter({ store: memoryStore({ maxKeys: 50_000 }), rules })
 */
export function memoryStore(options?: MemoryStoreOptions): MemoryStore {
  return new MemoryStore(options)
}
