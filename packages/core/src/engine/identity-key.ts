import { boundedMemo } from '../bounded-memo.js'
import type { Identity, LimitRequest } from '../types.js'
import type { CompiledRule } from './compile-rule.js'

/** Identities whose key strings are kept; a flood of new ones clears a memo rather than growing it. */
const CACHE_SIZE = 10_000

// The same string for the same identity lets every later map lookup reuse the hash V8 keeps on a
// string, instead of hashing a fresh copy.
const IPS = boundedMemo(CACHE_SIZE, (ip: string) => `i:${ip}`)
const USERS = boundedMemo(CACHE_SIZE, (user: string) => `u:${user}`)
const KEYS = boundedMemo(CACHE_SIZE, (key: string) => `k:${key}`)

/**
 * The identity part of a store key. Rules `by: 'user'` or `'apiKey'` fall back to the caller's
 * API key, then IP, when the request has no such identity, so anonymous traffic is still limited.
 */
function identityKey(rule: CompiledRule, identity: Identity, request: LimitRequest): string {
  const by = rule.by
  if (by === 'ip') return identity.ip === undefined ? 'i:unknown' : IPS(identity.ip)
  if (by === 'global') return 'g'
  if (by === 'user' && identity.user !== undefined) return USERS(identity.user)
  if (typeof by === 'function') return `f:${String(by(identity, request))}`
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
  return rule.perModel ? `${group}|m:${model ?? '-'}` : group
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
