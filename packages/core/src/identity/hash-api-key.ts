import { createHash } from 'node:crypto'

/** Most keys remembered; a process rarely sees more live keys than this at once. */
export const API_KEY_CACHE_SIZE = 4096
/** Longer keys are hashed every time rather than held in memory (real keys are well under 200 characters). */
const MAX_CACHED_LENGTH = 512
/** Separates these digests from any other SHA-256 of the same text, so a digest cannot be replayed elsewhere. */
const DOMAIN = 'llm-limit:api-key:'

/** raw key → digest, least recently used first (a Map keeps insertion order; a hit re-inserts). */
const cache = new Map<string, string>()

/**
 * SHA-256 of an API key (domain-separated, 32 hex characters): the only form of a key that ever
 * reaches a store key, a log line or an event. Repeated keys are served from a small in-process LRU.
 *
 * @example
 * hashApiKey('sk-live-123') // 32 hex characters, the same on every call and in every process
 */
export function hashApiKey(key: string): string {
  const hit = cache.get(key)
  if (hit !== undefined) {
    cache.delete(key)
    cache.set(key, hit)
    return hit
  }
  const hash = createHash('sha256').update(DOMAIN).update(key).digest('hex').slice(0, 32)
  if (key.length <= MAX_CACHED_LENGTH) {
    if (cache.size >= API_KEY_CACHE_SIZE) cache.delete(cache.keys().next().value as string)
    cache.set(key, hash)
  }
  return hash
}

/** Keys currently cached (for tests of the bound). */
export function apiKeyCacheSize(): number {
  return cache.size
}

/** Whether `key` is cached right now, without touching its recency (for tests of the eviction order). */
export function isApiKeyCached(key: string): boolean {
  return cache.has(key)
}
