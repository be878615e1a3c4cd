import { createHash } from 'node:crypto'
import { boundedMemo, identityCapacity } from '../bounded-memo.js'
import type { Identity, LimitRequest } from '../types.js'
import type { CompiledRule } from './compile-rule.js'

/** Longest identity text used in a key as it is; longer text is hashed. */
const MAX_PLAIN = 64
/** Texts longer than MAX_PLAIN (hashed) whose keys are kept, whatever the store's size. */
const LONG_MEMO = 10_000
/** Longest text a memo keeps: a memo of hostile 16 KB header values would hold 160 MB. */
const MAX_MEMO = 256
/** Printable ASCII but `#`, which marks a hash, and `|`, which separates the model. */
const PLAIN = /^[\x21\x22\x24-\x7b\x7d\x7e]*$/

/**
 * `prefix` and an identity text as a store key part: short printable text as it is, anything else
 * (a 16 KB header, CRLF, spaces, emoji) as its SHA-256, so keys stay short and plain whatever a
 * `user` function, a `by` function or a model name returns.
 */
function keyPart(prefix: string, value: string): string {
  if (value.length <= MAX_PLAIN && PLAIN.test(value)) return prefix + value
  return `${prefix}#${createHash('sha256').update(value).digest('base64url').slice(0, 22)}`
}

/** `keyPart` for one prefix, remembered for texts short enough to keep. */
function keyParts(prefix: string): (value: string) => string {
  // The same string for the same identity lets every later map lookup reuse the hash V8 keeps on a
  // string, instead of hashing a fresh copy.
  const memo = boundedMemo(identityCapacity, (value: string) => keyPart(prefix, value))
  // Longer texts are hashed anyway; as many of them as the store holds could take hundreds of MB.
  const hashed = boundedMemo(LONG_MEMO, (value: string) => keyPart(prefix, value))
  return (value) =>
    value.length <= MAX_PLAIN
      ? memo(value)
      : value.length <= MAX_MEMO
        ? hashed(value)
        : keyPart(prefix, value)
}

// A normalised IP is short and plain already.
const IPS = boundedMemo(identityCapacity, (ip: string) => `i:${ip}`)
const USERS = keyParts('u:')
const KEYS = boundedMemo(identityCapacity, (key: string) => `k:${key}`)
const FUNCTIONS = keyParts('f:')
const MODELS = keyParts('m:')

/**
 * The identity part of a store key. Rules `by: 'user'` or `'apiKey'` fall back to the caller's
 * API key, then IP, when the request has no such identity, so anonymous traffic is still limited.
 */
function identityKey(rule: CompiledRule, identity: Identity, request: LimitRequest): string {
  const by = rule.by
  if (by === 'ip') return identity.ip === undefined ? 'i:unknown' : IPS(identity.ip)
  if (by === 'global') return 'g'
  if (by === 'user' && identity.user !== undefined) return USERS(identity.user)
  if (typeof by === 'function') return FUNCTIONS(String(by(identity, request)))
  if (identity.apiKey !== undefined) return KEYS(identity.apiKey)
  return identity.ip === undefined ? 'i:unknown' : IPS(identity.ip)
}

/** The group a rule's counter lives in: the identity, and the model for rules counted per model. */
export function groupOf(
  rule: CompiledRule,
  identity: Identity,
  request: LimitRequest,
  model: string | undefined,
): string {
  const group = identityKey(rule, identity, request)
  return rule.perModel ? `${group}|${MODELS(model ?? '-')}` : group
}

/** True when `model` is listed, exactly or by a prefix pattern ending in '*'. */
export function modelMatches(patterns: readonly string[], model: string | undefined): boolean {
  if (model === undefined) return false
  for (const pattern of patterns) {
    if (pattern === model) return true
    if (pattern.endsWith('*') && model.startsWith(pattern.slice(0, -1))) return true
  }
  return false
}

/**
 * The groups naming the caller itself (user, API key, IP), most specific first: where a block is kept,
 * and what a decision reads for blocks whatever its rules count by.
 */
export function identityGroups(identity: Identity): string[] {
  const groups: string[] = []
  if (identity.user !== undefined) groups.push(USERS(identity.user))
  if (identity.apiKey !== undefined) groups.push(KEYS(identity.apiKey))
  if (identity.ip !== undefined) groups.push(IPS(identity.ip))
  return groups
}
