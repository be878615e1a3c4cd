import { describe, expect, it } from 'vitest'
import { heapUsed } from '../../../../test/support/heap.js'
import { memoryStore } from '../store/memory-store.js'
import type { ConsumeResult, Store, StoreCheck } from '../store/store.js'
import { createLimiter } from './limiter.js'

/** A memory store that also records every key it was asked to count. */
function recordingStore(): { store: Store; keys: string[] } {
  const inner = memoryStore()
  const keys: string[] = []
  const store: Store = {
    name: 'recording',
    consume(checks: readonly StoreCheck[], context): Promise<ConsumeResult> {
      for (const check of checks) keys.push(check.key, check.group)
      return inner.consume(checks, context)
    },
    adjust: (adjustments, context) => inner.adjust(adjustments, context),
  }
  return { store, keys }
}

const tenant = (headers: Record<string, string | string[] | undefined>) => String(headers['x-tenant'])

describe('store keys from identity text', () => {
  it('stay short and plain whatever a by function, a user or a model name returns', async () => {
    const { store, keys } = recordingStore()
    const limiter = createLimiter({
      store,
      rules: [
        { name: 'tenant', by: (_identity, request) => tenant(request.headers), requests: 10, per: '1m' },
        { name: 'user-model', by: 'user', tokens: 100_000, per: '1m', perModel: true },
      ],
    })
    for (const hostile of ['x'.repeat(16_000), 'a\r\nb', 'has space', 'emoji 😀', 'a|m:b', '#hash']) {
      await limiter.check({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'x-tenant': hostile },
        ip: '203.0.113.1',
        user: hostile,
        body: { model: `${hostile}`.slice(0, 200), messages: [{ role: 'user', content: 'hi' }] },
      })
    }
    for (const key of keys) {
      expect(key.length).toBeLessThan(200)
      expect(key).toMatch(/^[\x21-\x7e]+$/)
    }
    // Plain short identities stay readable.
    await limiter.check({ method: 'GET', path: '/', headers: { 'x-tenant': 'acme' }, ip: '203.0.113.1' })
    expect(keys).toContain('tenant:f:acme')
  })

  it('keep long identities apart that share a prefix, and together when equal', async () => {
    const limiter = createLimiter({
      store: memoryStore(),
      rules: [
        { name: 'tenant', by: (_identity, request) => tenant(request.headers), requests: 1, per: '1m' },
      ],
    })
    const send = (value: string) =>
      limiter.check({ method: 'GET', path: '/', headers: { 'x-tenant': value }, ip: '203.0.113.1' })
    const base = 'tenant-'.repeat(1000)
    expect((await send(`${base}1`)).allowed).toBe(true)
    // A key cut at some length would put these two in one bucket.
    expect((await send(`${base}2`)).allowed).toBe(true)
    expect((await send(`${base}1`)).allowed).toBe(false)
  })

  it('hold no hostile text in memory: 20,000 distinct 16 KB identities grow the heap by far less than they weigh', async () => {
    const limiter = createLimiter({
      store: memoryStore({ maxKeys: 1000 }),
      rules: [
        { name: 'tenant', by: (_identity, request) => tenant(request.headers), requests: 10, per: '1m' },
      ],
    })
    const bytes = Buffer.alloc(16_000, 'y')
    const before = heapUsed()
    for (let i = 0; i < 20_000; i++) {
      // Fresh flat strings, as a header parser makes them: 20,000 × 16 KB is 320 MB if anything keeps them.
      bytes.write(String(i).padStart(8, '0'))
      const value = bytes.toString('latin1')
      await limiter.check({ method: 'GET', path: '/', headers: { 'x-tenant': value }, ip: '203.0.113.1' })
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
    const grown = heapUsed() - before
    expect(grown).toBeLessThan(64 * 1024 * 1024)
  })
})
