import { createLimiter } from '@llm-limit/core'
import { storeContract } from '@llm-limit/testing'
import {
  durableObjectStore,
  type LimitNamespace,
  type LimitObjectState,
  LlmLimitObject,
} from '@llm-limit/workers'
import { afterEach, describe, expect, it, vi } from 'vitest'

/**
 * Durable Objects in this process: one LlmLimitObject per name, with a Map as storage and calls
 * delivered one at a time, as workerd's input gate does. The workerd run is test/runtimes.test.ts.
 */
function fakeNamespace() {
  const objects = new Map<
    string,
    { object: LlmLimitObject; storage: Map<string, unknown>; queue: Promise<unknown> }
  >()
  const create = (name: string, storage = new Map<string, unknown>()) => {
    let ready: Promise<unknown> = Promise.resolve()
    const state: LimitObjectState = {
      storage: {
        list: async <T>() => new Map([...storage].map(([k, v]) => [k, structuredClone(v) as T])),
        put: async (entries) => {
          for (const [key, value] of Object.entries(entries)) storage.set(key, structuredClone(value))
        },
        delete: async (keys) => keys.filter((key) => storage.delete(key)).length,
        setAlarm: async () => {},
      },
      blockConcurrencyWhile: (callback) => {
        const run = callback()
        ready = run
        return run
      },
    }
    const object = new LlmLimitObject(state)
    const slot = { object, storage, queue: ready }
    objects.set(name, slot)
    return slot
  }
  const namespace: LimitNamespace = {
    idFromName: (name) => name,
    get: (id) => ({
      fetch: async (input, init) => {
        const slot = objects.get(id as string) ?? create(id as string)
        const answer = slot.queue.then(() => slot.object.fetch(new Request(input, init)))
        slot.queue = answer.catch(() => {})
        return answer
      },
    }),
  }
  /** Forgets every object but keeps its storage, as when workerd evicts idle objects. */
  const evictAll = () => {
    for (const [name, slot] of [...objects]) create(name, slot.storage)
  }
  return { namespace, objects, evictAll }
}

afterEach(() => {
  vi.useRealTimers()
})

storeContract('durable object (in-process)', async () => {
  vi.useFakeTimers({ toFake: ['Date'] })
  const { namespace } = fakeNamespace()
  return {
    store: durableObjectStore({ namespace }),
    advance: async (ms) => {
      vi.setSystemTime(Date.now() + ms)
    },
  }
})

describe('durableObjectStore', () => {
  it('puts each identity group in its own object and every rule of a group in one call', async () => {
    const { namespace, objects } = fakeNamespace()
    const calls: string[] = []
    const counting: LimitNamespace = {
      idFromName: (name) => name,
      get: (id) => {
        const stub = namespace.get(id)
        return {
          fetch: (input, init) => {
            calls.push(id as string)
            return stub.fetch(input, init)
          },
        }
      },
    }
    const limiter = createLimiter({
      store: durableObjectStore({ namespace: counting }),
      rules: [
        { name: 'ip-a', by: 'ip', requests: 5, per: '1m' },
        { name: 'ip-b', by: 'ip', requests: 9, per: '1h', algorithm: 'sliding-window' },
        { name: 'all', by: 'global', requests: 100, per: '1m' },
      ],
    })
    const decision = await limiter.check({ method: 'GET', path: '/', headers: {}, ip: '203.0.113.9' })
    expect(decision.allowed).toBe(true)
    expect(calls).toHaveLength(2)
    expect(objects.size).toBe(2)
  })

  it('refunds the objects that admitted when another denied, so a denial charges nothing', async () => {
    const { namespace } = fakeNamespace()
    const limiter = createLimiter({
      store: durableObjectStore({ namespace }),
      rules: [
        { name: 'per-ip', by: 'ip', requests: 10, per: '1m', algorithm: 'fixed-window' },
        { name: 'all', by: 'global', requests: 2, per: '1m', algorithm: 'fixed-window' },
      ],
    })
    const request = (ip: string) => limiter.check({ method: 'GET', path: '/', headers: {}, ip })
    expect((await request('198.51.100.1')).allowed).toBe(true)
    expect((await request('198.51.100.1')).allowed).toBe(true)
    for (let i = 0; i < 5; i++) expect((await request('198.51.100.1')).allowed).toBe(false)
    // Without the refund, the 5 denials would have spent this IP's allowance down to 3.
    const denied = await request('198.51.100.1')
    expect(denied.rules.find((rule) => rule.name === 'per-ip')?.remaining).toBe(8)
  })

  it('keeps counting after the object is evicted and rebuilt from its storage', async () => {
    const { namespace, evictAll } = fakeNamespace()
    const store = durableObjectStore({ namespace })
    const check = {
      key: 'r:g',
      group: 'g',
      rule: 'r',
      algorithm: 'fixed-window' as const,
      limit: 3,
      burst: 3,
      windowMs: 60_000,
      cost: 1,
    }
    for (let i = 0; i < 3; i++)
      expect((await store.consume([check], { requestId: `a${i}` })).allowed).toBe(true)
    evictAll()
    expect((await store.consume([check], { requestId: 'b' })).allowed).toBe(false)
  })

  it('answers a malformed call with a 400 naming what it expected, and the store turns it into ERR_STORE', async () => {
    const { namespace } = fakeNamespace()
    const stub = namespace.get('x' as never)
    const response = await stub.fetch('https://llm-limit.internal/', {
      method: 'POST',
      body: '{"op":"consume","checks":[{"key":1}]}',
    })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain(
      'Expected { op: "consume", checks }',
    )
    const broken: LimitNamespace = {
      idFromName: (name) => name,
      get: () => ({ fetch: async () => new Response('nope', { status: 500 }) }),
    }
    await expect(
      durableObjectStore({ namespace: broken }).consume(
        [{ key: 'r:g', group: 'g', algorithm: 'fixed-window', limit: 1, burst: 1, windowMs: 1000, cost: 1 }],
        { requestId: 'x' },
      ),
    ).rejects.toMatchObject({ code: 'ERR_STORE' })
  })

  it('counts a zoned calendar day, and answers 400 to a zone Intl does not know or a zone on a rolling window', async () => {
    const { namespace } = fakeNamespace()
    const stub = namespace.get('tz' as never)
    const base = {
      key: 'd:g',
      group: 'g',
      algorithm: 'fixed-window',
      limit: 5,
      burst: 5,
      windowMs: 0,
      cost: 1,
    }
    const send = (check: object) =>
      stub.fetch('https://llm-limit.internal/', {
        method: 'POST',
        body: JSON.stringify({ op: 'consume', requestId: `tz-${Math.random()}`, checks: [check] }),
      })
    const zoned = await send({ ...base, calendar: 'day', timeZone: 'Asia/Kolkata' })
    expect(zoned.status).toBe(200)
    const { results } = (await zoned.json()) as { results: { window: number }[] }
    // Kolkata's days start at 18:30 UTC.
    expect(results[0].window % 86_400_000).toBe(18.5 * 3_600_000)
    expect((await send({ ...base, calendar: 'day', timeZone: 'Asia/Kolkatta' })).status).toBe(400)
    expect((await send({ ...base, windowMs: 1000, timeZone: 'Asia/Kolkata' })).status).toBe(400)
  })

  it('refuses a missing namespace at construction with the fix', () => {
    expect(() => durableObjectStore({ namespace: undefined as never })).toThrow(/wrangler.example.jsonc/)
  })
})
