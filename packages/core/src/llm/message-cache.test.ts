import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createEstimator } from './estimator.js'
import { type CachedCount, createMessageCache } from './message-cache.js'
import { type LlmRequest, parseLlmRequest } from './parse-request.js'

const chat = (messages: Record<string, unknown>[], model = 'gpt-4o') =>
  parseLlmRequest({ model, messages, max_tokens: 1 }, '/v1/chat/completions') as LlmRequest

/** Fresh objects and strings, as JSON.parse gives a server for every request. */
const fresh = <T>(value: T): T => JSON.parse(JSON.stringify(value))

describe('the message cache', () => {
  it('negative control: same length, different text never shares a count', () => {
    const estimator = createEstimator()
    const reference = createEstimator({ cacheSize: 0 })
    // Equal length, one character apart, with different token counts; first through the
    // successor path (same history), then through the fingerprint path (no history).
    const a = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
    const b = 'aaaaaaaaaaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaaaaa'
    expect(a.length).toBe(b.length)
    const system = { role: 'system', content: 'Be brief.' }
    for (const messages of [
      [system, { role: 'user', content: a }],
      [system, { role: 'user', content: b }],
      [{ role: 'user', content: b }],
      [{ role: 'user', content: a }],
      [{ role: 'assistant', content: a }],
      [{ role: 'user', name: 'x', content: a }],
    ]) {
      expect(estimator.estimate(chat(fresh(messages))).inputTokens).toBe(
        reference.estimate(chat(fresh(messages))).inputTokens,
      )
    }
    expect(reference.estimate(chat([{ role: 'user', content: a }])).inputTokens).not.toBe(
      reference.estimate(chat([{ role: 'user', content: b }])).inputTokens,
    )
  })

  it('any sequence of similar requests counts exactly what an uncached estimator counts', () => {
    // A small pool of equal-length texts with different counts makes shared histories followed by
    // a different message of the same length common; a tiny cache turns generations over mid-request.
    const text = fc.constantFrom('aaaa', 'aa a', 'a<|>', '    ', 'ab b', 'bbbb', 'b', '')
    const message = fc.record({ role: fc.constantFrom('user', 'assistant'), content: text })
    const request = fc.record({
      model: fc.constantFrom('gpt-4o', 'gpt-4', 'claude-sonnet-4'),
      messages: fc.array(message, { maxLength: 5 }),
    })
    fc.assert(
      fc.property(fc.array(request, { maxLength: 30 }), fc.constantFrom(1, 3, 10_000), (requests, size) => {
        const cached = createEstimator({ cacheSize: size })
        const reference = createEstimator({ cacheSize: 0 })
        for (const { model, messages } of requests) {
          expect(cached.estimate(chat(fresh(messages), model)).inputTokens).toBe(
            reference.estimate(chat(fresh(messages), model)).inputTokens,
          )
        }
      }),
      { numRuns: 200 },
    )
  })

  it('stays bounded: old entries are forgotten, recent ones kept', () => {
    const cache = createMessageCache(100, 1_000_000)
    for (let i = 0; i < 10_000; i++) cache.add(undefined, 's', 'user', `message ${i}`, undefined, i)
    let remembered = 0
    for (let i = 0; i < 10_000; i++)
      if (cache.find(undefined, 's', 'user', `message ${i}`, undefined) !== undefined) remembered++
    expect(remembered).toBeLessThanOrEqual(100)
    expect(cache.find(undefined, 's', 'user', 'message 9999', undefined)?.tokens).toBe(9999)
  })

  it('bounds the characters held, not only the entries', () => {
    const cache = createMessageCache(1_000_000, 10_000)
    const long = (i: number) => `${i} ${'x'.repeat(998)}`
    for (let i = 0; i < 1000; i++) cache.add(undefined, 's', 'user', long(i), undefined, i)
    let remembered = 0
    for (let i = 0; i < 1000; i++)
      if (cache.find(undefined, 's', 'user', long(i), undefined) !== undefined) remembered++
    // About 10,000 characters: some ten texts of a thousand, one generation's overshoot aside.
    expect(remembered).toBeLessThanOrEqual(12)
    expect(remembered).toBeGreaterThan(0)
  })

  it('keeps an entry used recently across generations (least recently used is forgotten first)', () => {
    const cache = createMessageCache(10, 1_000_000)
    cache.add(undefined, 's', 'system', 'hot', undefined, 1)
    for (let i = 0; i < 100; i++) {
      cache.add(undefined, 's', 'user', `cold ${i}`, undefined, i)
      expect(cache.find(undefined, 's', 'system', 'hot', undefined)?.tokens).toBe(1)
    }
    expect(cache.find(undefined, 's', 'user', 'cold 0', undefined)).toBeUndefined()
  })

  it('follows a resent history without confusing a changed message for the one it replaced', () => {
    const cache = createMessageCache(100, 1_000_000)
    let previous: CachedCount | undefined = cache.add(undefined, 's', 'system', 'sys', undefined, 1)
    previous = cache.add(previous, 's', 'user', 'hello', undefined, 2)
    const system = cache.find(undefined, 's', 'system', 'sys', undefined)
    expect(cache.find(system, 's', 'user', 'hello', undefined)?.tokens).toBe(2)
    expect(cache.find(system, 's', 'user', 'hellp', undefined)).toBeUndefined()
    expect(cache.find(system, 's', 'assistant', 'hello', undefined)).toBeUndefined()
    expect(cache.find(system, 't', 'user', 'hello', undefined)).toBeUndefined()
    expect(cache.find(system, 's', 'user', 'hello', 'name')).toBeUndefined()
  })
})
