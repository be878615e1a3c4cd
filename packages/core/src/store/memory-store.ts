import { Field } from '../algorithms/algorithm.js'
import { Entry } from '../algorithms/entry.js'
import { fixedWindow } from '../algorithms/fixed-window.js'
import { ALGORITHMS } from '../algorithms/index.js'
import { SLIDING_SLOTS, slidingWindow } from '../algorithms/sliding-window.js'
import { tokenBucket } from '../algorithms/token-bucket.js'
import { sizeIdentityCaches } from '../bounded-memo.js'
import { exactDoubles } from '../doubles.js'
import { configError } from '../errors.js'
import { DebtTable } from './debt-table.js'
import { holdsLease, owedShare, remember, restore } from './key-summary.js'
import { PACKED_FIELDS, PackedOutcome } from './outcome.js'
import type {
  ConsumeResult,
  Store,
  StoreAdjustment,
  StoreCheck,
  StoreContext,
  StoreControlChange,
  StoreControls,
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

// Decisions are synchronous, so one set of scratch lists serves every call.
const SCRATCH: KeyState[] = []
/** By number of checks, an array of exactly that many checks' numbers, all doubles: its copy is one fast clone. */
const NUMBERS: number[][] = []
/** A limit no amount reaches: reading a key with it gives the raw amount used. */
const UNBOUNDED = 2 ** 52
const NO_CONTROLS: StoreControls = Object.freeze({ limits: Object.freeze({}), block: undefined })

/** Calls each algorithm directly, so the compiler can inline the hot ones instead of a lookup per check. */
function inspect(entry: Entry, check: StoreCheck, now: number, out: number[], at: number): void {
  switch (check.algorithm) {
    case 'token-bucket':
      tokenBucket.inspect(entry, check, now, out, at)
      return
    case 'sliding-window':
      slidingWindow.inspect(entry, check, now, out, at)
      return
    case 'fixed-window':
      fixedWindow.inspect(entry, check, now, out, at)
      return
    default:
      ALGORITHMS[check.algorithm].inspect(entry, check, now, out, at)
  }
}

function charge(
  entry: Entry,
  check: StoreCheck,
  now: number,
  out: number[],
  at: number,
  leaseId: string,
): void {
  switch (check.algorithm) {
    case 'token-bucket':
      tokenBucket.charge(entry, check, now, out, at, leaseId)
      return
    case 'sliding-window':
      slidingWindow.charge(entry, check, now, out, at, leaseId)
      return
    case 'fixed-window':
      fixedWindow.charge(entry, check, now, out, at, leaseId)
      return
    default:
      ALGORITHMS[check.algorithm].charge(entry, check, now, out, at, leaseId)
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

/**
 * The state of one key, in its group's list; a check keeps it as its `slot` while the store holds it.
 * It has every field of `Entry`, which the algorithms take it as, in another order: the fields a
 * decision reads (owner, recent and the numbers) come first, beside the object's header, and the
 * ones only eviction and the ring read come last. With 1,000 rotating callers every key is out of
 * the CPU's nearest caches, and an `Entry` subclass had the owner, read first, on its second line.
 */
class KeyState implements Entry {
  /** The map of the store that holds the key; undefined once evicted, so a stale slot is never used. */
  owner: Map<string, Group> | undefined = undefined
  /** Used through a check's slot since eviction last passed its group; marking the key, which the check reads anyway, spares a cache miss on the group. */
  recent = false
  tat = 0
  start = 0
  count = 0
  head = 0
  ring: number[] | undefined = undefined
  leases: Map<string, number> | undefined = undefined
  next: KeyState | undefined = undefined

  constructor(
    /** The rule's name (or the check's key), unique within the group. */
    readonly name: string,
    /** A check of this key: how to read what it owes when it is forgotten. */
    readonly check: StoreCheck,
    owner: Map<string, Group>,
  ) {
    this.owner = owner
    // As in Entry: the numbers are doubles from the first key on, so no key ever changes hidden class.
    this.tat = this.start = this.count = this.head = 0.5
    this.tat = this.start = this.count = this.head = 0
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
  /** The operator's records (limit overrides, blocks) by group; few, and never evicted. */
  private readonly controls = new Map<string, StoreControls>()
  /** Claimed markers (threshold crossings) and when each expires. */
  private readonly claims = new Map<string, number>()
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

  /** The store's clock (epoch ms). */
  clock(): number {
    return this.now()
  }

  consumeSync(checks: readonly StoreCheck[], context: StoreContext): ConsumeResult {
    // A decision that read this store's clock already (a cached limit's expiry) hands the time over.
    const now = context.clockOwner === this ? (context.now as number) : this.now()
    const count = checks.length
    // Decisions are synchronous, so one scratch list serves every call (stale slots hold a few entries at most).
    const entries = SCRATCH
    const groups = this.groups
    let group: Group | undefined
    let groupName = ''
    // Every key first, then the rules. With many callers each check and each key is a cache miss;
    // found in a loop this short, the processor waits for all of them at once instead of one by one.
    for (let i = 0; i < count; i++) {
      const check = checks[i]
      const slot = check.slot as KeyState | undefined
      // Only this store's live keys have this owner, whatever else a slot may hold.
      if (slot !== undefined && slot !== null && slot.owner === groups) {
        // A returning identity's checks hold their keys' state: no hashing, no search.
        slot.recent = true
        entries[i] = slot
        continue
      }
      // Checks of one identity reuse the group without hashing its name again.
      if (group === undefined || check.group !== groupName) {
        groupName = check.group
        group = this.group(groupName)
      }
      const entry = this.key(group, check, now)
      try {
        check.slot = entry
      } catch {
        // A frozen check cannot keep it; it is looked up each time instead.
      }
      entries[i] = entry
    }
    // The algorithms write each check's numbers straight into the scratch array of this many checks.
    let numbers = NUMBERS[count]
    if (numbers === undefined) numbers = NUMBERS[count] = exactDoubles(count * PACKED_FIELDS)
    let allowed = true
    for (let i = 0, at = 0; i < count; i++, at += PACKED_FIELDS) {
      inspect(entries[i], checks[i], now, numbers, at)
      if (numbers[at + Field.Allowed] === 0) allowed = false
    }
    if (allowed) {
      for (let i = 0, at = 0; i < count; i++, at += PACKED_FIELDS) {
        const check = checks[i]
        // Only leases need the request id, and reading it is what makes one.
        const leaseId = check.algorithm === 'concurrency' ? context.requestId : ''
        charge(entries[i], check, now, numbers, at, leaseId)
      }
    }
    if (groups.size > this.maxKeys) this.evict(now)
    // `slice()` of a whole array is a clone the compiler makes inline; `slice(0, n)` calls the builtin
    // (measured: the store's 3-check decision 10-15 ns slower that way).
    return new PackedOutcome(allowed, now, numbers.slice())
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

  // The operator's API: peek, forget, add, controls and claims. Rare calls, kept off the decision path.

  /** The state of each check as `consumeSync` would read it, with nothing charged and no key created. */
  peek(checks: readonly StoreCheck[]): Promise<ConsumeResult> {
    const now = this.now()
    const numbers = exactDoubles(checks.length * PACKED_FIELDS)
    checks.forEach((check, i) => {
      const entry = this.groups.get(check.group)?.find(check.rule ?? check.key) ?? new Entry()
      inspect(entry, { ...check, cost: 0, slot: undefined }, now, numbers, i * PACKED_FIELDS)
    })
    return Promise.resolve(new PackedOutcome(true, now, numbers))
  }

  /** Forgets the counters of these checks. */
  forget(checks: readonly StoreCheck[]): Promise<void> {
    for (const check of checks) {
      const group = this.groups.get(check.group)
      if (group === undefined) continue
      const name = check.rule ?? check.key
      let previous: KeyState | undefined
      for (let entry = group.first; entry !== undefined; previous = entry, entry = entry.next) {
        if (entry.name !== name) continue
        if (previous === undefined) group.first = entry.next
        else previous.next = entry.next
        entry.owner = undefined
        break
      }
      if (group.first === undefined) this.groups.delete(check.group)
    }
    return Promise.resolve()
  }

  /** Adds `deltas[i]` to check `i`'s current window (negative gives back, never below zero). */
  add(checks: readonly StoreCheck[], deltas: readonly number[]): Promise<void> {
    const now = this.now()
    const out = exactDoubles(PACKED_FIELDS)
    checks.forEach((check, i) => {
      const delta = deltas[i]
      if (delta === 0 || check.algorithm === 'concurrency') return
      const entry = this.key(this.group(check.group), check, now)
      // An unbounded limit reads the raw amount used, and lets a penalty exceed the limit.
      const open = { ...check, limit: UNBOUNDED, burst: UNBOUNDED, slot: undefined }
      if (delta > 0 || check.algorithm === 'token-bucket') {
        if (delta > 0) {
          inspect(entry, { ...open, cost: delta }, now, out, 0)
          charge(entry, { ...check, cost: delta, slot: undefined }, now, out, 0, '')
        } else {
          inspect(entry, { ...open, cost: 0 }, now, out, 0)
          ALGORITHMS[check.algorithm].adjust(entry, check, out[Field.Window], delta, now, '')
        }
        return
      }
      // A refund is taken from the newest windows first, as much as they hold.
      let left = -delta
      inspect(entry, { ...open, cost: 0 }, now, out, 0)
      const last =
        check.algorithm === 'sliding-window' ? out[Field.Window] - SLIDING_SLOTS : out[Field.Window]
      for (let window = out[Field.Window]; window >= last && left > 0; window--) {
        const before = UNBOUNDED - out[Field.Remaining]
        ALGORITHMS[check.algorithm].adjust(entry, check, window, -left, now, '')
        inspect(entry, { ...open, cost: 0 }, now, out, 0)
        left -= before - (UNBOUNDED - out[Field.Remaining])
      }
    })
    return Promise.resolve()
  }

  /** The operator's records of each group. */
  readControls(groups: readonly string[]): Promise<readonly StoreControls[]> {
    return Promise.resolve(groups.map((group) => this.controlsOf(group, this.now())))
  }

  /** False when no identity has any control, the common case: a decision then reads none. */
  hasControls(): boolean {
    return this.controls.size > 0
  }

  /** The same, synchronously; undefined when no group has any record, the common case, at the cost of one branch. */
  readControlsSync(groups: readonly string[]): readonly StoreControls[] | undefined {
    if (this.controls.size === 0) return undefined
    const now = this.now()
    return groups.map((group) => this.controlsOf(group, now))
  }

  /** Applies one change to a group's records. */
  writeControl(group: string, change: StoreControlChange): Promise<void> {
    const now = this.now()
    const current = this.controlsOf(group, now)
    const limits = { ...current.limits }
    let block = current.block
    if (change.kind === 'limit') {
      if (change.value === undefined) delete limits[change.rule]
      else limits[change.rule] = change.value
    } else {
      block =
        change.block === undefined
          ? undefined
          : { reason: change.block.reason, status: change.block.status, untilMs: now + change.block.ms }
    }
    if (block === undefined && Object.keys(limits).length === 0) this.controls.delete(group)
    else this.controls.set(group, { limits, block })
    return Promise.resolve()
  }

  /** True for the first claim of `marker` in `group` until `ttlMs` passes. */
  claimOnce(group: string, marker: string, ttlMs: number): Promise<boolean> {
    const now = this.now()
    const key = `${group}\u0000${marker}`
    const until = this.claims.get(key)
    if (until !== undefined && until > now) return Promise.resolve(false)
    if (this.claims.size >= this.maxKeys) {
      for (const [name, expires] of this.claims) if (expires <= now) this.claims.delete(name)
      // Still full of live markers: the oldest goes, so a threshold may fire twice rather than memory grow.
      if (this.claims.size >= this.maxKeys) this.claims.delete(this.claims.keys().next().value as string)
    }
    this.claims.set(key, now + ttlMs)
    return Promise.resolve(true)
  }

  private controlsOf(group: string, now: number): StoreControls {
    const controls = this.controls.get(group)
    if (controls === undefined) return NO_CONTROLS
    if (controls.block !== undefined && controls.block.untilMs <= now) {
      const kept = { limits: controls.limits, block: undefined }
      if (Object.keys(kept.limits).length === 0) this.controls.delete(group)
      else this.controls.set(group, kept)
      return kept
    }
    return controls
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
