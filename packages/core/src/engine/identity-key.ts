import type { Identity, LimitRequest } from '../types.js'
import type { CompiledRule } from './compile-rule.js'

/**
 * The identity part of a store key. Rules `by: 'user'` or `'apiKey'` fall back to the caller's
 * API key, then IP, when the request has no such identity, so anonymous traffic is still limited.
 */
export function identityKey(rule: CompiledRule, identity: Identity, request: LimitRequest): string {
  const by = rule.by
  if (by === 'ip') return identity.ip === undefined ? 'i:unknown' : `i:${identity.ip}`
  if (by === 'global') return 'g'
  if (by === 'user' && identity.user !== undefined) return `u:${identity.user}`
  if (typeof by === 'function') return `f:${String(by(identity, request))}`
  if (identity.apiKey !== undefined) return `k:${identity.apiKey}`
  return identity.ip === undefined ? 'i:unknown' : `i:${identity.ip}`
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
