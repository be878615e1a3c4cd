import { Entry } from '../algorithms/entry.js'
import { fixedWindow } from '../algorithms/fixed-window.js'
import { ALGORITHMS } from '../algorithms/index.js'
import { slidingWindow } from '../algorithms/sliding-window.js'
import { tokenBucket } from '../algorithms/token-bucket.js'
import { sizeIdentityCaches } from '../bounded-memo.js'
import { configError } from '../errors.js'
import { DebtTable } from './debt-table.js'
import { holdsLease, owedShare, remember, restore } from './key-summary.js'
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
  /**
   * Most identities (groups of keys) kept. Past it the store forgets, first, identities not used
   * lately that owe little; what a forgotten key still owes is kept in a bounded table of debts
   * (docs/stores.md states the bound). @default 100_000
   */
  maxKeys?: number
  /** Clock in epoch ms; inject a fake one in tests. @default a monotonic clock anchored to the epoch */
  now?: () => number
}

/** Groups an eviction pass may keep (used lately, owing much, holding a lease) per decision: its cost stays constant. */
const KEEPS_PER_CHECK = 4
/** A group owing at least this share of some limit is passed over once before being forgotten. */
const HEAVY_SHARE = 0.5

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
 * The keys of one identity, as a list. A request's rules share an identity, so the identity string
 * is hashed once per decision and its rules are found by comparing interned rule names.
 */
class Group {
  first: KeyState | undefined = undefined
  /** Looked up by name since eviction last passed it (a key found through a check's slot marks itself instead). */
  recent = false
  /** Passed over once already for owing much: the next pass forgets it. */
  spared = false

  constructor(readonly name: string) {}

  find(name: string): KeyState | undefined {
    for (let entry = this.first; entry !== undefined; entry = entry.next)
      if (entry.name === name) return entry
    return undefined
  }

  /** Used since eviction last passed it, so it gets a second chance (CLOCK approximation of LRU); clears the marks. */
  takeRecent(): boolean {
    let recent = this.recent
    this.recent = false
    for (let entry = this.first; entry !== undefined; entry = entry.next) {
      if (entry.recent) recent = true
      entry.recent = false
    }
    return recent
  }

  /** Some key holds a live lease: forgetting it would lose the lease's release. */
  leased(now: number): boolean {
    for (let entry = this.first; entry !== undefined; entry = entry.next)
      if (holdsLease(entry, now)) return true
    return false
  }

  /** Some key owes at least `share` of its limit. */
  owes(share: number, now: number): boolean {
    for (let entry = this.first; entry !== undefined; entry = entry.next) {
      if (owedShare(entry, entry.check, now) >= share) return true
    }
    return false
  }

  /** Evicted: what its keys still owe goes to `debts`, and the checks that hold them must look them up again. */
  drop(debts: DebtTable | undefined, now: number): void {
    for (let entry = this.first; entry !== undefined; entry = entry.next) {
      if (debts !== undefined) remember(debts, this.name, entry.name, entry, entry.check, now)
      entry.owner = undefined
    }
  }
}

/** The state of one key, in its group's list; a check keeps it as its `slot` while the store holds it. */
class KeyState extends Entry {
  /** Used through a check's slot since eviction last passed its group; marking the key, which the check reads anyway, spares a cache miss on the group. */
  recent = false
  next: KeyState | undefined = undefined

  constructor(
    /** The rule's name (or the check's key), unique within the group. */
    readonly name: string,
    /** A check of this key: how to read what it owes when it is forgotten. */
    readonly check: StoreCheck,
    /** The map of the store that holds the key; undefined once evicted, so a stale slot is never used. */
    public owner: Map<string, Group> | undefined,
  ) {
    super()
  }
}

/**
 * A bounded in-process store: a Map with CLOCK (second-chance) eviction of constant cost per
 * decision, a table of what forgotten keys still owe, no timer per key, and every decision
 * synchronous and therefore atomic.
 */
export class MemoryStore implements Store {
  /** Store name for logs and metrics. */
  readonly name = 'memory'
  /** Most identities kept (the option). */
  readonly maxKeys: number
  private readonly groups = new Map<string, Group>()
  /** Made when the store first forgets a key: a store that never fills pays nothing for it. */
  private debts: DebtTable | undefined
  private readonly now: () => number
  private cursor: MapIterator<[string, Group]>

  constructor(options: MemoryStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? 100_000
    if (!Number.isInteger(maxKeys) || maxKeys < 1) {
      configError(`Expected \`memoryStore({ maxKeys })\` to be a positive integer, got ${String(maxKeys)}.`)
    }
    this.maxKeys = maxKeys
    // The engine's caches of identities reach as far as the store: past them every check rebuilds its keys.
    sizeIdentityCaches(maxKeys)
    this.now = options.now ?? monotonicNow
    this.cursor = this.groups.entries()
  }

  /** Number of identities currently held. */
  get size(): number {
    return this.groups.size
  }

  /** Debts of forgotten keys currently remembered, and how many were lost to a full bucket of heavier ones. */
  get forgotten(): { remembered: number; lost: number; capacity: number } {
    const debts = this.debts
    return { remembered: debts?.size ?? 0, lost: debts?.lost ?? 0, capacity: debts?.capacity ?? 0 }
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
          group = this.group(groupName)
        }
        entry = this.key(group, check, now)
        try {
          check.slot = entry
        } catch {
          // A frozen check cannot keep it; it is looked up each time instead.
        }
      }
      const out: StoreCheckResult = { allowed: true, remaining: 0, resetAt: now, retryAfterMs: 0, window: 0 }
      inspect(entry, check, now, out)
      if (!out.allowed) allowed = false
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
    if (groups.size > this.maxKeys) this.evict(now)
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
      const name = check.rule ?? check.key
      let entry = this.groups.get(check.group)?.find(name)
      // An extra charge on a forgotten key must not be lost: the key comes back with what it owed.
      if (entry === undefined && delta > 0) entry = this.key(this.group(check.group), check, now)
      if (entry) ALGORITHMS[check.algorithm].adjust(entry, check, window, delta, now, context.requestId)
    }
    if (this.groups.size > this.maxKeys) this.evict(now)
    return Promise.resolve()
  }

  /** Drops every key and every remembered debt (for tests and resets). */
  clear(): void {
    for (const group of this.groups.values()) group.drop(undefined, 0)
    this.groups.clear()
    this.debts = undefined
  }

  async close(): Promise<void> {
    this.clear()
  }

  private group(name: string): Group {
    let group = this.groups.get(name)
    if (group !== undefined) group.recent = true
    else {
      group = new Group(name)
      this.groups.set(name, group)
    }
    return group
  }

  /** The key of `check` in `group`, created when missing with whatever its forgotten self still owed. */
  private key(group: Group, check: StoreCheck, now: number): KeyState {
    const name = check.rule ?? check.key
    let entry = group.find(name)
    if (entry === undefined) {
      entry = new KeyState(name, check, this.groups)
      entry.next = group.first
      group.first = entry
      const debts = this.debts
      if (debts !== undefined && debts.size > 0) restore(debts, group.name, name, entry, check, now)
    }
    return entry
  }

  /**
   * Frees identities in insertion order, CLOCK style, at most KEEPS_PER_CHECK kept per call so a
   * decision's cost never depends on how many identities are limited. Kept: one used since the last
   * pass; one owing at least half a limit, once (light keys go first, since forgetting them gives
   * back least); one holding a live lease, always. Past the budget, the next one is forgotten
   * whatever it is (its debt goes to the table), except a lease holder: then the store stays over
   * `maxKeys` until a later decision.
   */
  private evict(now: number): void {
    const groups = this.groups
    this.debts ??= new DebtTable(this.maxKeys)
    let keeps = KEEPS_PER_CHECK
    while (groups.size > this.maxKeys) {
      // One long-lived iterator: a fresh one would rescan every deleted slot at the old end each time.
      let next = this.cursor.next()
      if (next.done) {
        this.cursor = groups.entries()
        next = this.cursor.next()
        if (next.done) return
      }
      // A Map iterator yields live entries only, in insertion order, even across deletes and clears.
      const [name, group] = next.value
      const leased = group.leased(now)
      if (keeps > 0) {
        let keep = leased || group.takeRecent()
        if (keep) group.spared = false
        else if (!group.spared && group.owes(HEAVY_SHARE, now)) keep = group.spared = true
        if (keep) {
          keeps--
          groups.delete(name)
          groups.set(name, group)
          continue
        }
      } else if (leased) return
      groups.delete(name)
      group.drop(this.debts, now)
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
