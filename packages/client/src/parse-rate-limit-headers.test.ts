import { describe, expect, it } from 'vitest'
import { parseRateLimitHeaders } from './parse-rate-limit-headers.js'

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0)
const iso = (offsetMs: number) => new Date(NOW + offsetMs).toISOString()

type Case = [string, Record<string, string>, unknown, Partial<ReturnType<typeof parseRateLimitHeaders>>]

const cases: Case[] = [
  [
    'OpenAI requests and tokens',
    {
      'x-ratelimit-limit-requests': '500',
      'x-ratelimit-remaining-requests': '499',
      'x-ratelimit-reset-requests': '120ms',
      'x-ratelimit-limit-tokens': '30000',
      'x-ratelimit-remaining-tokens': '29000',
      'x-ratelimit-reset-tokens': '2s',
    },
    undefined,
    {
      requests: { limit: 500, remaining: 499, resetMs: 120 },
      tokens: { limit: 30000, remaining: 29000, resetMs: 2000 },
    },
  ],
  [
    'OpenAI minutes and seconds',
    { 'x-ratelimit-reset-tokens': '6m0s', 'x-ratelimit-remaining-tokens': '0' },
    undefined,
    { tokens: { remaining: 0, resetMs: 360_000 } },
  ],
  [
    'OpenAI hours',
    { 'x-ratelimit-reset-requests': '1h2m3.5s' },
    undefined,
    { requests: { resetMs: 3_723_500 } },
  ],
  [
    'OpenAI fractional seconds',
    { 'x-ratelimit-reset-requests': '0.5s' },
    undefined,
    { requests: { resetMs: 500 } },
  ],
  [
    'OpenAI 429 with retry-after',
    { 'retry-after': '20', 'x-ratelimit-remaining-requests': '0' },
    undefined,
    { retryAfterMs: 20_000, requests: { remaining: 0 } },
  ],
  ['OpenAI x-should-retry false', { 'x-should-retry': 'false' }, undefined, { shouldRetry: false }],
  ['x-should-retry true', { 'x-should-retry': 'true' }, undefined, { shouldRetry: true }],
  [
    'retry-after-ms wins over Retry-After',
    { 'retry-after': '3', 'retry-after-ms': '2500' },
    undefined,
    { retryAfterMs: 2500 },
  ],
  [
    'Retry-After as an HTTP date',
    { 'retry-after': new Date(NOW + 30_000).toUTCString() },
    undefined,
    { retryAfterMs: 30_000 },
  ],
  [
    'Anthropic requests',
    {
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': '49',
      'anthropic-ratelimit-requests-reset': iso(1200),
    },
    undefined,
    { requests: { limit: 50, remaining: 49, resetMs: 1200 } },
  ],
  [
    'Anthropic input and output tokens',
    {
      'anthropic-ratelimit-input-tokens-limit': '40000',
      'anthropic-ratelimit-input-tokens-remaining': '39000',
      'anthropic-ratelimit-input-tokens-reset': iso(5000),
      'anthropic-ratelimit-output-tokens-limit': '8000',
      'anthropic-ratelimit-output-tokens-remaining': '0',
      'anthropic-ratelimit-output-tokens-reset': iso(60_000),
    },
    undefined,
    {
      inputTokens: { limit: 40000, remaining: 39000, resetMs: 5000 },
      outputTokens: { limit: 8000, remaining: 0, resetMs: 60_000 },
    },
  ],
  [
    'Anthropic tokens and retry-after',
    {
      'anthropic-ratelimit-tokens-limit': '80000',
      'anthropic-ratelimit-tokens-remaining': '100',
      'anthropic-ratelimit-tokens-reset': iso(10_000),
      'retry-after': '10',
    },
    undefined,
    { tokens: { limit: 80000, remaining: 100, resetMs: 10_000 }, retryAfterMs: 10_000 },
  ],
  [
    'IETF draft-6',
    {
      'ratelimit-limit': '100',
      'ratelimit-remaining': '40',
      'ratelimit-reset': '20',
      'ratelimit-policy': '100;w=60',
    },
    undefined,
    { requests: { limit: 100, remaining: 40, resetMs: 20_000 } },
  ],
  [
    'IETF draft-7',
    { ratelimit: 'limit=100, remaining=50, reset=50', 'ratelimit-policy': '100;w=60' },
    undefined,
    { requests: { limit: 100, remaining: 50, resetMs: 50_000 } },
  ],
  [
    'IETF draft-8',
    { 'ratelimit-policy': '"100-in-1min";q=100;w=60', ratelimit: '"100-in-1min";r=40;t=20' },
    undefined,
    { requests: { limit: 100, remaining: 40, resetMs: 20_000 } },
  ],
  [
    'IETF draft-10 with several policies',
    {
      'ratelimit-policy': '"burst";q=20;w=1, "tpm";q=100000;w=60;qu="tokens"',
      ratelimit: '"burst";r=19;t=1, "tpm";r=500;t=30',
    },
    undefined,
    {
      requests: { limit: 20, remaining: 19, resetMs: 1000 },
      tokens: { limit: 100000, remaining: 500, resetMs: 30_000 },
    },
  ],
  [
    'IETF draft-11: a token policy names its unit in llm-limit-unit, not qu',
    {
      'ratelimit-policy': '"burst";q=20;w=1, "tpm";q=100000;w=60;llm-limit-unit="tokens"',
      ratelimit: '"burst";r=19;t=1, "tpm";r=500;t=30',
    },
    undefined,
    {
      requests: { limit: 20, remaining: 19, resetMs: 1000 },
      tokens: { limit: 100000, remaining: 500, resetMs: 30_000 },
    },
  ],
  [
    'IETF draft-10 zero remaining',
    { 'ratelimit-policy': '"day";q=1000;w=86400', ratelimit: '"day";r=0;t=3600' },
    undefined,
    { requests: { limit: 1000, remaining: 0, resetMs: 3_600_000 } },
  ],
  [
    'legacy epoch seconds',
    {
      'x-ratelimit-limit': '60',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(Math.round((NOW + 42_000) / 1000)),
    },
    undefined,
    { requests: { limit: 60, remaining: 0, resetMs: 42_000 } },
  ],
  [
    'legacy epoch milliseconds',
    { 'x-ratelimit-reset': String(NOW + 7000) },
    undefined,
    { requests: { resetMs: 7000 } },
  ],
  [
    'legacy delta seconds',
    { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '15' },
    undefined,
    { requests: { limit: 10, remaining: 3, resetMs: 15_000 } },
  ],
  [
    'Azure retry-after-ms',
    {
      'x-ms-retry-after-ms': '1500',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-remaining-tokens': '120',
    },
    undefined,
    { retryAfterMs: 1500, requests: { remaining: 0 }, tokens: { remaining: 120 } },
  ],
  [
    'Gemini RetryInfo in a 429 body',
    {},
    {
      error: {
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.QuotaFailure' },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37s' },
        ],
      },
    },
    { retryAfterMs: 37_000 },
  ],
  [
    'Gemini fractional delay',
    {},
    { error: { details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1.5s' }] } },
    { retryAfterMs: 1500 },
  ],
  [
    'mixed-case header names',
    { 'X-RateLimit-Limit-Requests': '5', 'Retry-After': '1' },
    undefined,
    { requests: { limit: 5 }, retryAfterMs: 1000 },
  ],
  [
    'garbage values are ignored',
    {
      'x-ratelimit-limit-requests': 'lots',
      'x-ratelimit-reset-requests': '∞',
      'retry-after': 'soon',
      ratelimit: ';;;===',
      'x-should-retry': 'maybe',
    },
    '<html>',
    { requests: {}, retryAfterMs: undefined, shouldRetry: undefined },
  ],
  [
    'huge numbers are ignored',
    { 'x-ratelimit-limit-requests': '9'.repeat(40), 'retry-after': '1e999' },
    undefined,
    { requests: {}, retryAfterMs: undefined },
  ],
  ['nothing at all', {}, undefined, { requests: {}, tokens: {}, sources: [] }],
]

describe('parseRateLimitHeaders', () => {
  it('has at least 25 fixtures', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25)
  })

  it.each(cases)('%s', (_name, headers, body, expected) => {
    const info = parseRateLimitHeaders(headers, body, NOW)
    for (const [key, value] of Object.entries(expected)) {
      if (value === undefined) expect(info[key as keyof typeof info]).toBeUndefined()
      else if (typeof value === 'object' && !Array.isArray(value))
        expect(info[key as keyof typeof info]).toEqual(value)
      else expect(info[key as keyof typeof info]).toEqual(value)
    }
  })

  it('reads a Headers object as well as a plain object', () => {
    const info = parseRateLimitHeaders(new Headers({ 'retry-after-ms': '250' }), undefined, NOW)
    expect(info.retryAfterMs).toBe(250)
  })
})
