/** Per-identity caches keep at least this many identities, the default store's reach. */
const DEFAULT_IDENTITIES = 10_000
/** A V8 Map holds at most 2^24 entries; two generations of this stay well below. */
const MOST_IDENTITIES = 4_000_000
let identities = DEFAULT_IDENTITIES

/**
 * Identities the engine's per-identity caches (normalised IPs, key parts, rule sets' checks) keep:
 * sized with the largest memory store of the process, so a store that holds 1,000,000 callers is
 * not defeated by caches that forget them after 10,000.
 */
export function identityCapacity(): number {
  return identities
}

/** Raises `identityCapacity()` to `count` (capped at 4,000,000); a store calls it with its `maxKeys`. */
export function sizeIdentityCaches(count: number): void {
  if (count > identities) identities = Math.min(count, MOST_IDENTITIES)
}

/**
 * Remembers `compute` for at most `limit` keys (a number, or a function such as `identityCapacity` read on each miss). A flood of new keys (rotating IPv6 addresses, minted
 * API keys) clears the memo rather than growing it; hot keys are back after one miss each. Its
 * values are cheap to compute again, so it clears instead of keeping a second generation as
 * `BoundedCache` does (measured: the second generation's extra lookup on every miss cost more).
 */
export function boundedMemo<Key, Value>(
  limit: number | (() => number),
  compute: (key: Key) => Value,
): (key: Key) => Value {
  const memo = new Map<Key, Value>()
  return (key) => {
    let value = memo.get(key)
    if (value === undefined) {
      value = compute(key)
      if (memo.size >= (typeof limit === 'number' ? limit : limit())) memo.clear()
      memo.set(key, value)
    }
    return value
  }
}

/**
 * A map of at most `2 × limit` entries in two generations. A new key that finds the young one full
 * makes it the old one, dropping the previous old one; an old entry read again joins the young one
 * while that has room. So a working set of up to twice `limit` keys is found without building it
 * again, and a flood of new keys costs two generations of memory at most.
 */
export class BoundedCache<Key, Value> {
  private young = new Map<Key, Value>()
  private old = new Map<Key, Value>()

  /** `limit` is a number, or a function (such as `identityCapacity`) read whenever a new key arrives. */
  constructor(private readonly limit: number | (() => number)) {}

  /** The value kept for `key`, or undefined. */
  get(key: Key): Value | undefined {
    const value = this.young.get(key)
    return value === undefined ? this.fromOld(key) : value
  }

  /** Keeps `value` for `key` in the young generation. */
  set(key: Key, value: Value): void {
    if (this.young.size >= this.capacity()) {
      this.old = this.young
      this.young = new Map()
    }
    this.young.set(key, value)
  }

  private fromOld(key: Key): Value | undefined {
    const value = this.old.get(key)
    // Moving it must not start a new generation, which would drop the old keys not read again yet.
    if (value !== undefined && this.young.size < this.capacity()) this.young.set(key, value)
    return value
  }

  private capacity(): number {
    const limit = this.limit
    return typeof limit === 'number' ? limit : limit()
  }
}
