import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { API_KEY_CACHE_SIZE, apiKeyCacheSize, hashApiKey, isApiKeyCached } from './hash-api-key.js'

describe('hashApiKey', () => {
  it('is a domain-separated SHA-256, 32 hex characters, stable across calls', () => {
    const key = 'sk-live-0123456789abcdef'
    const hash = hashApiKey(key)
    expect(hash).toMatch(/^[0-9a-f]{32}$/)
    expect(hashApiKey(key)).toBe(hash)
    const plain = createHash('sha256').update(key).digest('hex')
    // Negative control: a bare SHA-256 would let a digest computed elsewhere be matched here.
    expect(plain.startsWith(hash)).toBe(false)
    expect(hash).toBe(createHash('sha256').update(`llm-limit:api-key:${key}`).digest('hex').slice(0, 32))
    expect(hashApiKey('sk-live-0123456789abcdeg')).not.toBe(hash)
  })

  it('never contains the raw key, for any key (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (suffix) => {
        const key = `sk-${suffix}`
        const hash = hashApiKey(key)
        expect(hash).toMatch(/^[0-9a-f]{32}$/)
        expect(hash).not.toContain('sk-')
      }),
      { numRuns: 2000 },
    )
  })

  it('keeps its cache bounded and least-recently-used', () => {
    for (let i = 0; i < API_KEY_CACHE_SIZE * 3; i++) {
      hashApiKey(`sk-fill-${i}`)
      expect(apiKeyCacheSize()).toBeLessThanOrEqual(API_KEY_CACHE_SIZE)
    }
    expect(apiKeyCacheSize()).toBe(API_KEY_CACHE_SIZE)
    const oldest = `sk-fill-${API_KEY_CACHE_SIZE * 2}`
    const next = `sk-fill-${API_KEY_CACHE_SIZE * 2 + 1}`
    expect(isApiKeyCached(oldest)).toBe(true)
    // Using the oldest key makes it the newest: the next insert evicts its neighbour instead
    // (a FIFO cache would evict the key just used).
    hashApiKey(oldest)
    hashApiKey('sk-new')
    expect(isApiKeyCached(oldest)).toBe(true)
    expect(isApiKeyCached(next)).toBe(false)
    expect(apiKeyCacheSize()).toBe(API_KEY_CACHE_SIZE)
  })

  it('hashes but does not cache very long keys', () => {
    const before = apiKeyCacheSize()
    const long = `sk-${'x'.repeat(10_000)}`
    expect(hashApiKey(long)).toMatch(/^[0-9a-f]{32}$/)
    expect(apiKeyCacheSize()).toBe(before)
  })
})
