/**
 * Slots per bucket. A summary can sit in any slot of either of its two buckets (the emptier one
 * is chosen), so a table three quarters full still loses almost nothing to collisions.
 */
const WAYS = 8
const SMALLEST = 64

/**
 * What the memory store remembers of keys it forgot: per hashed key, the state that still owes
 * something (a bucket's theoretical arrival time, a window's count) until it is paid off. A fixed
 * number of slots in buckets of `WAYS`, two buckets per key, typed arrays only (about 32 bytes a slot, nothing for the
 * collector to trace). A full bucket keeps the summaries that owe the largest share of their limit,
 * so forgetting gives back least: a new summary displaces only a lighter one.
 */
export class DebtTable {
  /** Summaries that displaced or were refused against a full bucket of debts: what forgetting gave back. */
  lost = 0
  /** Summaries held, some perhaps paid off already. */
  size = 0
  private readonly fingerprints: Uint32Array
  private readonly until: Float64Array
  private readonly first: Float64Array
  private readonly second: Float64Array
  private readonly shares: Float32Array
  private readonly mask: number
  private bucket = 0
  private other = 0
  private fingerprint = 0

  /** A table of at least `capacity` slots (rounded up to a power of two). */
  constructor(capacity: number) {
    let slots = SMALLEST
    while (slots < capacity) slots *= 2
    this.fingerprints = new Uint32Array(slots)
    this.until = new Float64Array(slots)
    this.first = new Float64Array(slots)
    this.second = new Float64Array(slots)
    this.shares = new Float32Array(slots)
    this.mask = slots / WAYS - 1
  }

  /** Number of slots. */
  get capacity(): number {
    return this.fingerprints.length
  }

  /**
   * Remembers that key `name` of `group` owes `share` of its limit until `until` (epoch ms), with
   * the algorithm's own two numbers to restore it from.
   */
  put(
    group: string,
    name: string,
    kind: number,
    first: number,
    second: number,
    until: number,
    share: number,
    now: number,
  ): void {
    this.locate(group, name, kind)
    const fingerprints = this.fingerprints
    let free = -1
    let lightest = -1
    let freeHere = 0
    let freeThere = 0
    let freeThereAt = -1
    for (let way = 0; way < 2 * WAYS; way++) {
      const slot = (way < WAYS ? this.bucket : this.other) * WAYS + (way % WAYS)
      if (fingerprints[slot] === this.fingerprint) {
        this.write(slot, first, second, until, share)
        return
      }
      if (fingerprints[slot] === 0 || this.until[slot] <= now) {
        if (way < WAYS) {
          if (free < 0) free = slot
          freeHere++
        } else {
          if (freeThereAt < 0) freeThereAt = slot
          freeThere++
        }
      } else if (lightest < 0 || this.lighter(slot, lightest)) lightest = slot
    }
    // The emptier bucket takes it, which keeps both buckets of every key from filling up.
    if (freeThere > freeHere) free = freeThereAt
    if (free >= 0) {
      if (fingerprints[free] === 0) this.size++
      fingerprints[free] = this.fingerprint
      this.write(free, first, second, until, share)
      return
    }
    this.lost++
    // Forgetting the lighter debt gives back less; equal shares keep the one owed longer.
    const shareOf = this.shares[lightest]
    if (share > shareOf || (share === shareOf && until > this.until[lightest])) {
      fingerprints[lightest] = this.fingerprint
      this.write(lightest, first, second, until, share)
    }
  }

  /**
   * Finds and removes the summary of key `name` of `group`: its slot, whose `firstAt` and `secondAt`
   * stay readable until the next `put`, or -1 when none is owed any more.
   */
  take(group: string, name: string, kind: number, now: number): number {
    this.locate(group, name, kind)
    for (let way = 0; way < 2 * WAYS; way++) {
      const slot = (way < WAYS ? this.bucket : this.other) * WAYS + (way % WAYS)
      if (this.fingerprints[slot] !== this.fingerprint) continue
      this.fingerprints[slot] = 0
      this.size--
      return this.until[slot] > now ? slot : -1
    }
    return -1
  }

  /** First number of a summary `take` found. */
  firstAt(slot: number): number {
    return this.first[slot]
  }

  /** Second number of a summary `take` found. */
  secondAt(slot: number): number {
    return this.second[slot]
  }

  /** Forgets every summary. */
  clear(): void {
    this.fingerprints.fill(0)
    this.size = 0
    this.lost = 0
  }

  private lighter(slot: number, than: number): boolean {
    const shares = this.shares
    return (
      shares[slot] < shares[than] || (shares[slot] === shares[than] && this.until[slot] < this.until[than])
    )
  }

  private write(slot: number, first: number, second: number, until: number, share: number): void {
    this.first[slot] = first
    this.second[slot] = second
    this.until[slot] = until
    this.shares[slot] = share
  }

  /**
   * Two independent 32-bit FNV-1a style hashes of the key: one picks the first bucket, the other
   * (never 0, which marks a free slot) tells keys in a bucket apart, so two keys are confused about
   * once in 2^32; the second bucket mixes both.
   */
  private locate(group: string, name: string, kind: number): void {
    let a = 0x811c9dc5 ^ kind
    let b = 0x6a09e667 ^ Math.imul(kind + 1, 0x9e3779b1)
    for (let i = 0; i < group.length; i++) {
      const c = group.charCodeAt(i)
      a = Math.imul(a ^ c, 0x01000193)
      b = Math.imul(b ^ c, 0x5bd1e995)
    }
    // A separator no rule name starts with keeps ("ab", "c") and ("a", "bc") apart.
    a = Math.imul(a ^ 0xffff, 0x01000193)
    b = Math.imul(b ^ 0xffff, 0x5bd1e995)
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i)
      a = Math.imul(a ^ c, 0x01000193)
      b = Math.imul(b ^ c, 0x5bd1e995)
    }
    // Finalisers spread the low bits the bucket index uses.
    a ^= a >>> 16
    a = Math.imul(a, 0x85ebca6b)
    a ^= a >>> 13
    b ^= b >>> 15
    b = Math.imul(b, 0xc2b2ae35)
    b ^= b >>> 16
    this.bucket = a & this.mask
    this.fingerprint = b >>> 0 || 1
    this.other = ((a >>> 16) ^ (Math.imul(b, 0x9e3779b1) >>> 11)) & this.mask
  }
}
