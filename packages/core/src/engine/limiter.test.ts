import { describe, expect, it } from 'vitest'
import { Field } from '../algorithms/algorithm.js'
import { Entry } from '../algorithms/entry.js'
import { ALGORITHMS } from '../algorithms/index.js'
import { formatHeaders } from '../http/format-headers.js'
import { createMiddlewareCore } from '../http/middleware-core.js'
import { memoryStore } from '../store/memory-store.js'
import { resultAt } from '../store/outcome.js'
import type { ConsumeResult, Store, StoreCheckResult } from '../store/store.js'
import type { Algorithm, LimitRequest, Rule } from '../types.js'
import { createLimiter } from './limiter.js'

const request = (ip = '203.0.113.7'): LimitRequest => ({ method: 'GET', path: '/x', headers: {}, ip })

function clock(start = Date.UTC(2026, 0, 15, 10, 0, 0, 123)) {
  const time = { now: start }
  return { time, store: memoryStore({ now: () => time.now }) }
}

/** Charges each rule as soon as it admits, stopping at the first denial: the naive way. */
class SequentialStore implements Store {
  readonly name = 'naive'
  private readonly entries = new Map<string, Entry>()
  constructor(private readonly now: () => number) {}
  async consume(checks: Parameters<Store['consume']>[0]): Promise<ConsumeResult> {
    const now = this.now()
    const results: StoreCheckResult[] = []
    for (const check of checks) {
      const entry = this.entries.get(check.key) ?? new Entry()
      this.entries.set(check.key, entry)
      const out = [0, 0, 0, 0, 0]
      ALGORITHMS[check.algorithm].inspect(entry, check, now, out, 0)
      if (out[Field.Allowed] === 0) {
        const denied = resultAt(out, 0)
        return {
          allowed: false,
          now,
          results: [...results, denied, ...checks.slice(results.length + 1).map(() => denied)],
        }
      }
      ALGORITHMS[check.algorithm].charge(entry, check, now, out, 0, 'x')
      results.push(resultAt(out, 0))
    }
    return { allowed: true, now, results }
  }
  async adjust() {}
}

const layered: Rule[] = [
  { name: 'ip-minute', by: 'ip', requests: 100, per: '1m' },
  { name: 'ip-hour', by: 'ip', requests: 1000, per: '1h', algorithm: 'sliding-window' },
  { name: 'global-small', by: 'global', requests: 2, per: '1m', algorithm: 'fixed-window' },
]

async function remainingAfterDenial(store: Store) {
  const limiter = createLimiter({ store, rules: layered })
  await limiter.check(request())
  const second = await limiter.check(request())
  expect(second.allowed).toBe(true)
  const before = second.rules.slice(0, 2).map((rule) => rule.remaining)
  const third = await limiter.check(request())
  expect(third.allowed).toBe(false)
  expect(third.rule).toBe('global-small')
  // A fourth request reports the state without the third having charged anything.
  const fourth = await limiter.check(request())
  return { before, after: fourth.rules.slice(0, 2).map((rule) => rule.remaining) }
}

describe('all-or-nothing', () => {
  it('a request denied by its third rule leaves the first two exactly as they were', async () => {
    const { store } = clock()
    const { before, after } = await remainingAfterDenial(store)
    expect(before).toEqual([98, 998])
    expect(after).toEqual(before)
  })

  it('negative control: a store that charges rule by rule fails the same check', async () => {
    const { time } = clock()
    const { before, after } = await remainingAfterDenial(new SequentialStore(() => time.now))
    expect(after).not.toEqual(before)
  })
})

const algorithms: { algorithm: Algorithm; per: Rule['per'] }[] = [
  { algorithm: 'token-bucket', per: '10s' },
  { algorithm: 'sliding-window', per: '10s' },
  { algorithm: 'fixed-window', per: '10s' },
  { algorithm: 'fixed-window', per: 'day' },
]

describe.each(algorithms)('waiting exactly Retry-After ($algorithm, per $per)', ({ algorithm, per }) => {
  async function deniedAt(offsetMs: number) {
    const { time, store } = clock()
    time.now += offsetMs
    const limiter = createLimiter({ store, rules: [{ name: 'r', requests: 3, per, algorithm }] })
    let decision = await limiter.check(request())
    for (let i = 0; i < 10 && decision.allowed; i++) {
      time.now += 337
      decision = await limiter.check(request())
    }
    expect(decision.allowed).toBe(false)
    return { time, limiter, headers: formatHeaders(decision), decision }
  }

  it.each([0, 1, 777, 4321])(
    'is admitted after retry-after-ms, not a millisecond sooner (offset %i)',
    async (offset) => {
      const { time, limiter, headers } = await deniedAt(offset)
      const waitMs = Number(headers['retry-after-ms'])
      expect(waitMs).toBeGreaterThan(0)
      const deniedTime = time.now
      time.now = deniedTime + waitMs - 1
      expect((await limiter.check(request())).allowed).toBe(false)
      time.now = deniedTime + waitMs
      expect((await limiter.check(request())).allowed).toBe(true)
    },
  )

  it.each([0, 1, 777, 4321])('is admitted after Retry-After whole seconds (offset %i)', async (offset) => {
    const { time, limiter, headers } = await deniedAt(offset)
    const seconds = Number(headers['retry-after'])
    expect(Number.isInteger(seconds) && seconds >= 1).toBe(true)
    expect(seconds).toBe(Math.ceil(Number(headers['retry-after-ms']) / 1000))
    time.now += seconds * 1000
    expect((await limiter.check(request())).allowed).toBe(true)
  })

  it('says whether waiting helps', async () => {
    const { headers, decision } = await deniedAt(0)
    expect(decision.retryable).toBe(per !== 'day')
    expect(headers['x-should-retry']).toBe(per === 'day' ? 'false' : undefined)
  })
})

describe('configuration errors', () => {
  it.each([
    [{ rules: [{ requests: 10, per: '1 minute' }] }, /rules\[0\]\.per.*'1m'.*got "1 minute"/],
    [{ rules: [{ requests: 10, tokens: 5 }] }, /exactly one of .* it sets requests and tokens/],
    [{ rules: [{ requests: -1 }] }, /rules\[0\]\.requests.*positive number/],
    [{ rules: [{ requests: 1.5 }] }, /whole number/],
    [{ rules: [{ requests: 1, per: 'day', algorithm: 'token-bucket' }] }, /only 'fixed-window'/],
    [{ rules: [{ concurrent: 2, per: '1m' }] }, /concurrency rule/],
    [
      {
        rules: [
          { name: 'a', requests: 1 },
          { name: 'a', tokens: 1 },
        ],
      },
      /named 'a'/,
    ],
    [{ rules: [{ requests: 1, by: 'plan' }] }, /rules\[0\]\.by/],
    [{ mode: 'audit' }, /`mode`/],
    [{ onStoreError: 'ignore' }, /`onStoreError`/],
    [{ skip: 'yes' }, /`skip` to be a function/],
    [{ queue: null }, /`queue` to be an object/],
    [{ queue: { maxWaitMs: 1e12 } }, /`queue.maxWaitMs` to be a whole number from 1 to 3600000/],
    [{ defaultOutputTokens: -1 }, /`defaultOutputTokens` to be a whole number from 0/],
    [{ defaultOutputTokens: 1e12 }, /`defaultOutputTokens`/],
    [{ prices: { 'gpt-4o': { input: -1, output: 5 } } }, /`prices\['gpt-4o'\].input`/],
    [{ prices: { mine: 'free' } }, /`prices\['mine'\]` to be \{ input, output \}/],
  ])('%j throws a message naming the option', (options, message) => {
    expect(() => createLimiter(options as never)).toThrow(message)
  })

  it.each([
    [{ headers: 'none' }, /`headers` to be an object/],
    [{ headers: { openai: 'maybe' } }, /`headers.openai` to be true or false/],
    [{ errorFormat: 'xml' }, /`errorFormat`/],
    [{ maxBodyBytes: 0 }, /`maxBodyBytes`/],
  ])('%j throws from the adapters, which read these options', (options, message) => {
    expect(() => createMiddlewareCore(options as never)).toThrow(message)
  })

  it('shows values JSON cannot, and never quotes a huge one whole', () => {
    const thrown = (rule: object) => {
      try {
        createLimiter({ rules: [rule as never] })
      } catch (error) {
        return error as Error & { code?: string }
      }
      throw new Error('expected a configuration error')
    }
    // JSON.stringify shows NaN and Infinity as null, and throws on a bigint.
    expect(thrown({ requests: Number.NaN, per: '1m' }).message).toMatch(/got NaN\./)
    expect(thrown({ requests: Number.POSITIVE_INFINITY, per: '1m' }).message).toMatch(/got Infinity\./)
    const big = thrown({ requests: 5n, per: '1m' })
    expect(big.code).toBe('ERR_CONFIG')
    expect(big.message).toMatch(/got 5n\./)
    expect(thrown({ requests: 5, per: 'x'.repeat(100_000) }).message.length).toBeLessThan(300)
    expect(thrown({ requests: 5, per: '1m', models: [] }).message).toMatch(/models.* is empty/)
  })
})

describe('decisions', () => {
  it('resolve as themselves: no thenable, nothing extra to enumerate or serialise', async () => {
    const limiter = createLimiter({ store: memoryStore(), rules: [{ requests: 2, per: '1m' }] })
    const now = limiter.checkNow(request())
    const awaited = await limiter.check(request())
    expect(await Promise.resolve(now)).toBe(now)
    expect(typeof (awaited as { then?: unknown }).then).toBe('undefined')
    expect(Object.keys(awaited)).not.toContain('then')
    expect(Object.keys(JSON.parse(JSON.stringify(awaited)))).not.toContain('then')
    expect(awaited.rules[0].remaining).toBe(0)
  })
})
