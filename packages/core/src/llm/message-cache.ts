/** Longest chain of entries sharing one fingerprint; past it the oldest is dropped (a miss, never a wrong count). */
const MAX_CHAIN = 16
/** Texts whose UTF-8 fits here are fingerprinted whole (8,192 characters of any script, with room for the padding). */
const BYTES = new Uint8Array(8192 * 3 + 4)
const WORDS = new Int32Array(BYTES.buffer)
const UTF8 = new TextEncoder()

/** Successors remembered per entry: the messages that followed it in earlier requests. */
const MAX_SUCCESSORS = 4

/** One remembered count with every value it depends on, so a hit is proven by comparison, not by a hash. */
export interface CachedCount {
  /** The remembered token count. */
  readonly tokens: number
}

interface Entry extends CachedCount {
  readonly scope: string
  readonly form: string
  readonly text: string
  readonly extra: string | undefined
  /** The generation the entry was born in. */
  readonly generation: number
  /** The next entry sharing this one's fingerprint. */
  next: Entry | undefined
  /** Entries that followed this one in a request (most recent first), all of the same generation. */
  successors: Entry[] | undefined
}

/** A bounded map from (scope, form, text, extra) to a token count. */
export interface MessageCache {
  /** The count remembered for exactly these values; the successors of `previous` are tried first. */
  find(
    previous: CachedCount | undefined,
    scope: string,
    form: string,
    text: string,
    extra: string | undefined,
  ): CachedCount | undefined
  /** Remembers a count, as a successor of `previous`. */
  add(
    previous: CachedCount | undefined,
    scope: string,
    form: string,
    text: string,
    extra: string | undefined,
    tokens: number,
  ): CachedCount
}

const matches = (entry: Entry, scope: string, form: string, text: string, extra: string | undefined) =>
  entry.text === text && entry.form === form && entry.scope === scope && entry.extra === extra

/**
 * Creates a cache holding at most `maxEntries` counts and about `maxChars` characters of text.
 * Chat clients resend their history as fresh JSON, so a content string is never the same object
 * twice and hashing all of it (as a Map keyed by the string does) would cost more than the rest of
 * the estimate. Two things keep lookups cheap: each entry remembers the entries that followed it,
 * so a resent history is matched message by message with `===` (a plain memory compare) and no
 * hashing; anything else is found by a fingerprint and confirmed with `===`. Two generations give
 * least recently used eviction without a linked list: a full young generation becomes the old
 * one, and a hit in the old generation copies the entry back into the young one. Links never
 * cross generations, so a dropped generation is garbage as a whole.
 */
export function createMessageCache(maxEntries: number, maxChars: number): MessageCache {
  const entriesPerGeneration = Math.max(1, Math.floor(maxEntries / 2))
  const charsPerGeneration = Math.max(1, Math.floor(maxChars / 2))
  let young = new Map<number, Entry>()
  let old = new Map<number, Entry>()
  let youngEntries = 0
  let youngChars = 0
  let generation = 0

  const lookup = (
    map: Map<number, Entry>,
    key: number,
    scope: string,
    form: string,
    text: string,
    extra: string | undefined,
  ): Entry | undefined => {
    for (let entry = map.get(key); entry !== undefined; entry = entry.next)
      if (matches(entry, scope, form, text, extra)) return entry
    return undefined
  }

  const insert = (
    previous: CachedCount | undefined,
    key: number,
    scope: string,
    form: string,
    text: string,
    extra: string | undefined,
    tokens: number,
  ): Entry => {
    if (youngEntries >= entriesPerGeneration || youngChars >= charsPerGeneration) {
      old = young
      young = new Map()
      youngEntries = 0
      youngChars = 0
      generation++
    }
    const entry: Entry = {
      scope,
      form,
      text,
      extra,
      tokens,
      generation,
      next: young.get(key),
      successors: undefined,
    }
    young.set(key, entry)
    youngEntries++
    youngChars += text.length + (extra?.length ?? 0)
    // A long chain means crafted collisions: drop its tail so lookups stay cheap.
    let depth = 1
    for (let link = entry; link.next !== undefined; link = link.next) {
      if (++depth > MAX_CHAIN) {
        link.next = undefined
        break
      }
    }
    follow(previous, entry)
    return entry
  }

  /** Remembers that `entry` followed `previous`, if both belong to the young generation. */
  const follow = (previous: CachedCount | undefined, entry: Entry) => {
    const before = previous as Entry | undefined
    if (before === undefined || before.generation !== generation) return
    if (before.successors === undefined) before.successors = [entry]
    else {
      before.successors.unshift(entry)
      if (before.successors.length > MAX_SUCCESSORS) before.successors.pop()
    }
  }

  return {
    find(previous, scope, form, text, extra) {
      const successors = (previous as Entry | undefined)?.successors
      if (successors !== undefined)
        for (const entry of successors) if (matches(entry, scope, form, text, extra)) return entry
      const key = fingerprint(text)
      const hit = lookup(young, key, scope, form, text, extra)
      if (hit !== undefined) {
        follow(previous, hit)
        return hit
      }
      const aged = lookup(old, key, scope, form, text, extra)
      return aged === undefined
        ? undefined
        : insert(previous, key, scope, form, aged.text, extra, aged.tokens)
    },
    add(previous, scope, form, text, extra, tokens) {
      return insert(previous, fingerprint(text), scope, form, text, extra, tokens)
    },
  }
}

/**
 * A 32-bit hash of the whole text (MurmurHash3's mixing over its UTF-8 bytes, four at a time).
 * Reading the bytes natively and mixing words costs about what sampling 64 characters does, yet
 * templated messages that differ in a digit or two still land on different chains.
 */
function fingerprint(text: string): number {
  if (text.length * 3 > BYTES.length - 4) return sampledFingerprint(text)
  const { written } = UTF8.encodeInto(text, BYTES)
  BYTES[written] = 0
  BYTES[written + 1] = 0
  BYTES[written + 2] = 0
  let hash = written
  const words = (written + 3) >> 2
  for (let i = 0; i < words; i++) {
    let word = Math.imul(WORDS[i], 0xcc9e2d51)
    word = (word << 15) | (word >>> 17)
    hash ^= Math.imul(word, 0x1b873593)
    hash = (hash << 13) | (hash >>> 19)
    hash = (Math.imul(hash, 5) + 0xe6546b64) | 0
  }
  return hash
}

/** For texts too long for the buffer: the length and 256 evenly spaced characters. */
function sampledFingerprint(text: string): number {
  const length = text.length
  const step = Math.max(1, Math.floor(length / 256))
  let hash = length
  for (let i = 0; i < length; i += step) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return hash
}
