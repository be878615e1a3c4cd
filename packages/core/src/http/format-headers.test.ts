import { describe, expect, it } from 'vitest'
import type { Decision } from '../engine/decision.js'
import type { RuleState } from '../types.js'
import { formatHeaders, formatResetDuration } from './format-headers.js'

const state = (overrides: Partial<RuleState>): RuleState => ({
  name: 'rule',
  measure: 'requests',
  limit: 10,
  remaining: 5,
  resetMs: 1500,
  windowMs: 60_000,
  denied: false,
  ...overrides,
})

/** Only the fields the header writer reads; the rest of a Decision does not matter here. */
const decision = (rules: RuleState[], denial?: { retryAfterMs: number; retryable: boolean }) =>
  ({
    allowed: denial === undefined,
    rules,
    retryAfterMs: denial?.retryAfterMs ?? 0,
    retryable: denial?.retryable ?? true,
    downgradedFrom: undefined,
    model: undefined,
  }) as unknown as Decision

describe('formatResetDuration', () => {
  it.each([
    [0, '0ms'],
    [-5, '0ms'],
    [120, '120ms'],
    [999.2, '1s'],
    [1000, '1s'],
    [1001, '1.001s'],
    [1010, '1.01s'],
    [1500, '1.5s'],
    [9600, '9.6s'],
    [60_000, '1m0s'],
    [360_000, '6m0s'],
    [61_250, '1m1.25s'],
    [3_600_000, '1h0m0s'],
    [3_723_000, '1h2m3s'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatResetDuration(ms)).toBe(text)
  })
})

describe('formatHeaders', () => {
  it('reports the tightest rule of each kind, whatever the order', () => {
    const rules = [
      state({ name: 'loose', limit: 100, remaining: 90 }),
      state({ name: 'tokens', measure: 'tokens', limit: 1000, remaining: 100, resetMs: 6000 }),
      state({ name: 'tight', limit: 10, remaining: 2, resetMs: 360_000 }),
    ]
    const headers = formatHeaders(decision(rules))
    expect(headers['x-ratelimit-limit-requests']).toBe('10')
    expect(headers['x-ratelimit-remaining-requests']).toBe('2')
    expect(headers['x-ratelimit-reset-requests']).toBe('6m0s')
    expect(headers['x-ratelimit-remaining-tokens']).toBe('100')
    expect(headers['x-ratelimit-reset-tokens']).toBe('6s')
    // Legacy headers name the tightest rule overall: the tokens rule has 10% left, 'tight' 20%.
    expect(headers['x-ratelimit-limit']).toBe('1000')
    expect(headers['ratelimit-policy']).toBe(
      '"loose";q=100;w=60, "tokens";q=1000;w=60;llm-limit-unit="tokens", "tight";q=10;w=60',
    )
    expect(headers.ratelimit).toBe('"loose";r=90;t=2, "tokens";r=100;t=6, "tight";r=2;t=360')
  })

  it('never serves a memoised policy for rules that differ only in limit or window', () => {
    const first = formatHeaders(decision([state({ name: 'same', limit: 10 })]))
    const otherLimit = formatHeaders(decision([state({ name: 'same', limit: 11 })]))
    const otherWindow = formatHeaders(decision([state({ name: 'same', limit: 10, windowMs: 1000 })]))
    expect(first['ratelimit-policy']).toBe('"same";q=10;w=60')
    expect(otherLimit['ratelimit-policy']).toBe('"same";q=11;w=60')
    expect(otherWindow['ratelimit-policy']).toBe('"same";q=10;w=1')
    const draft8 = formatHeaders(decision([state({ name: 'same', measure: 'tokens', limit: 10 })]), {
      ietf: 'draft-8',
    })
    expect(draft8['ratelimit-policy']).toBe('"same";q=10;w=60')
  })

  it('a denied rule is the one reported, with Retry-After rounded up and x-should-retry when waiting cannot help', () => {
    const rules = [
      state({ name: 'roomy', remaining: 1 }),
      state({ name: 'spent', remaining: 9, denied: true }),
    ]
    const retryable = formatHeaders(decision(rules, { retryAfterMs: 1001, retryable: true }))
    expect(retryable['x-ratelimit-remaining']).toBe('9')
    expect(retryable['retry-after']).toBe('2')
    expect(retryable['retry-after-ms']).toBe('1001')
    expect(retryable['x-should-retry']).toBeUndefined()
    const hopeless = formatHeaders(decision(rules, { retryAfterMs: 0, retryable: false }))
    expect(hopeless['retry-after']).toBeUndefined()
    expect(hopeless['x-should-retry']).toBe('false')
  })

  it('sends only the header sets asked for', () => {
    const headers = formatHeaders(decision([state({})]), { openai: false, ietf: 'draft-6', legacy: false })
    expect(Object.keys(headers).sort()).toEqual([
      'ratelimit-limit',
      'ratelimit-policy',
      'ratelimit-remaining',
      'ratelimit-reset',
    ])
  })

  it('draft-11 (the default) sends registered quota units only; tokens and dollars in llm-limit-unit', () => {
    const rules = [
      state({ name: 'rpm' }),
      state({ name: 'tpm', measure: 'tokens', limit: 1000 }),
      state({ name: 'in', measure: 'inputTokens', limit: 800 }),
      state({ name: 'out', measure: 'outputTokens', limit: 200 }),
      state({
        name: 'usd',
        measure: 'costUsd',
        limit: 0.01,
        remaining: 0.0025,
        resetMs: 3_600_000,
        windowMs: 0,
      }),
      state({ name: 'par', measure: 'concurrent', limit: 4, remaining: 3, windowMs: 0 }),
    ]
    const policy = formatHeaders(decision(rules))['ratelimit-policy']
    expect(policy).toBe(
      '"rpm";q=10;w=60, "tpm";q=1000;w=60;llm-limit-unit="tokens", "in";q=800;w=60;llm-limit-unit="input-tokens", ' +
        '"out";q=200;w=60;llm-limit-unit="output-tokens", "usd";q=10000;w=3600;llm-limit-unit="usd-micros", ' +
        '"par";q=4;qu="concurrent-requests"',
    )
    // Every qu value is one the IANA registry holds.
    for (const [, unit] of policy.matchAll(/;qu="([^"]*)"/g)) {
      expect(['requests', 'content-bytes', 'concurrent-requests']).toContain(unit)
    }
    // Draft-10 keeps what llm-limit sent before, for clients that read it.
    expect(formatHeaders(decision(rules), { ietf: 'draft-10' })['ratelimit-policy']).toContain(
      '"tpm";q=1000;w=60;qu="tokens"',
    )
  })

  it('legacy X-RateLimit-* count a cost rule in micro-USD, as the IETF fields do', () => {
    const cost = state({ name: 'usd', measure: 'costUsd', limit: 0.01, remaining: 0.0025, windowMs: 0 })
    const headers = formatHeaders(decision([cost], { retryAfterMs: 1000, retryable: true }))
    expect(headers['x-ratelimit-limit']).toBe('10000')
    expect(headers['x-ratelimit-remaining']).toBe('2500')
    expect(headers['ratelimit-policy']).toMatch(/^"usd";q=10000;/)
    expect(headers.ratelimit).toMatch(/^"usd";r=2500;/)
  })

  it("a cost rule's remaining micro-USD survive the trip through dollars (negative control: floor alone is 1 low)", () => {
    let low = 0
    for (const micro of [524_287, 399_970, 1, 999_999, 123_456_789]) {
      const cost = state({ name: 'usd', measure: 'costUsd', limit: 1000, remaining: micro / 1_000_000 })
      const headers = formatHeaders(decision([cost]))
      expect(headers.ratelimit).toMatch(new RegExp(`^"usd";r=${micro};`))
      expect(headers['x-ratelimit-remaining']).toBe(String(micro))
      if (Math.floor((micro / 1_000_000) * 1_000_000) !== micro) low++
    }
    // The control: the naive product is below the integer for at least one of these amounts.
    expect(low).toBeGreaterThan(0)
  })
})
