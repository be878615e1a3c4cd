import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAX_SANE_WAIT_MS, parseRateLimitHeaders, type RateLimitInfo } from './parse-rate-limit-headers.js'

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

const YEAR_MS = 365 * 86_400_000

type Hostile = [string, () => ReturnType<typeof parseRateLimitHeaders>, Partial<RateLimitInfo>]

const hostile: Hostile[] = [
  [
    'two IETF draft-10 policies, the daily one exhausted: the daily one decides',
    () =>
      parseRateLimitHeaders(
        {
          'ratelimit-policy': '"burst";q=20;w=1, "day";q=1000;w=86400',
          ratelimit: '"burst";r=19;t=1, "day";r=0;t=3600',
        },
        undefined,
        NOW,
      ),
    { requests: { limit: 1000, remaining: 0, resetMs: 3_600_000 } },
  ],
  [
    'the exhausted policy listed first decides as well',
    () =>
      parseRateLimitHeaders(
        { 'ratelimit-policy': '"day";q=1000, "burst";q=20', ratelimit: '"day";r=0;t=3600, "burst";r=19;t=1' },
        undefined,
        NOW,
      ),
    { requests: { limit: 1000, remaining: 0, resetMs: 3_600_000 } },
  ],
  [
    'IETF money and concurrency policies stay out of the request summary',
    () =>
      parseRateLimitHeaders(
        {
          'ratelimit-policy': '"rpm";q=60;w=60, "cost";q=1000000;w=86400;qu="usd-micros"',
          ratelimit: '"rpm";r=59;t=1, "cost";r=0;t=86400',
        },
        undefined,
        NOW,
      ),
    { requests: { limit: 60, remaining: 59, resetMs: 1000 } },
  ],
  [
    'a proxy-duplicated Retry-After: 2, 2 (Headers.append)',
    () => {
      const headers = new Headers()
      headers.append('retry-after', '2')
      headers.append('retry-after', '2')
      return parseRateLimitHeaders(headers, undefined, NOW)
    },
    { retryAfterMs: 2000 },
  ],
  [
    'a Retry-After list as a Node header array, the longest wins',
    () => parseRateLimitHeaders({ 'retry-after': ['1', '3'] }, undefined, NOW),
    { retryAfterMs: 3000 },
  ],
  [
    'a repeated HTTP-date Retry-After',
    () => {
      const date = new Date(NOW + 5000).toUTCString()
      return parseRateLimitHeaders({ 'retry-after': `${date}, ${date}` }, undefined, NOW)
    },
    { retryAfterMs: 5000 },
  ],
  [
    'a legacy epoch reset two years in the past is now, not a 53-year wait',
    () =>
      parseRateLimitHeaders(
        {
          'x-ratelimit-limit': '60',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.floor((NOW - 2 * YEAR_MS) / 1000)),
        },
        undefined,
        NOW,
      ),
    { requests: { limit: 60, remaining: 0, resetMs: 0 } },
  ],
  [
    'a legacy epoch-ms reset in the past is now',
    () => parseRateLimitHeaders({ 'x-ratelimit-reset': String(NOW - 90_000) }, undefined, NOW),
    { requests: { resetMs: 0 } },
  ],
  [
    'an Anthropic reset in the past is now',
    () =>
      parseRateLimitHeaders(
        {
          'anthropic-ratelimit-input-tokens-remaining': '0',
          'anthropic-ratelimit-input-tokens-reset': iso(-5000),
        },
        undefined,
        NOW,
      ),
    { inputTokens: { remaining: 0, resetMs: 0 } },
  ],
  [
    'an absurd Retry-After (a thousand years) is dropped, a sane retry-after-ms is not',
    () => parseRateLimitHeaders({ 'retry-after': String(1000 * 365 * 86_400) }, undefined, NOW),
    { retryAfterMs: undefined },
  ],
  [
    'a negative Retry-After is garbage',
    () => parseRateLimitHeaders({ 'retry-after': '-5' }, undefined, NOW),
    { retryAfterMs: undefined },
  ],
  [
    'undefined and null values, and arrays holding them',
    () =>
      parseRateLimitHeaders(
        {
          'retry-after': undefined,
          'x-ratelimit-remaining-requests': null,
          'x-ratelimit-limit-requests': [null, '10'] as never,
          'x-ratelimit-reset-requests': [undefined] as never,
        },
        null,
        NOW,
      ),
    { requests: { limit: 10 }, retryAfterMs: undefined },
  ],
  ['headers undefined', () => parseRateLimitHeaders(undefined), { requests: {}, policies: [], sources: [] }],
  ['headers null', () => parseRateLimitHeaders(null, null), { requests: {}, policies: [], sources: [] }],
  [
    'a headers object whose getter throws',
    () =>
      parseRateLimitHeaders({
        get() {
          throw new Error('boom')
        },
      }),
    { requests: {}, sources: [] },
  ],
  [
    'object and function values are ignored',
    () =>
      parseRateLimitHeaders({ 'retry-after': { seconds: 3 } as never, 'retry-after-ms': (() => 1) as never }),
    { retryAfterMs: undefined },
  ],
  [
    'OpenAI fields repeated by a proxy: least remaining, latest reset',
    () =>
      parseRateLimitHeaders(
        {
          'x-ratelimit-remaining-requests': '5, 3',
          'x-ratelimit-limit-requests': '10, 10',
          'x-ratelimit-reset-requests': '1s, 2s',
        },
        undefined,
        NOW,
      ),
    { requests: { limit: 10, remaining: 3, resetMs: 2000 } },
  ],
  [
    "Groq's daily request quota spent (reset 2m59.56s) beside a fresh token quota",
    () =>
      parseRateLimitHeaders(
        {
          'x-ratelimit-limit-requests': '14400',
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': '2m59.56s',
          'x-ratelimit-limit-tokens': '6000',
          'x-ratelimit-remaining-tokens': '5990',
          'x-ratelimit-reset-tokens': '100ms',
        },
        undefined,
        NOW,
      ),
    { requests: { limit: 14400, remaining: 0, resetMs: 179_560 } },
  ],
  [
    'a per-day and a per-minute request quota: the spent day decides',
    () =>
      parseRateLimitHeaders(
        {
          'x-ratelimit-limit-requests-day': '1000',
          'x-ratelimit-remaining-requests-day': '0',
          'x-ratelimit-reset-requests-day': '33011.5',
          'x-ratelimit-limit-requests': '30',
          'x-ratelimit-remaining-requests': '29',
          'x-ratelimit-reset-requests': '2s',
        },
        undefined,
        NOW,
      ),
    { requests: { limit: 1000, remaining: 0, resetMs: 33_011_500 } },
  ],
  [
    'Gemini RetryInfo in an array-wrapped body',
    () =>
      parseRateLimitHeaders(
        {},
        [
          {
            error: {
              code: 429,
              details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '13s' }],
            },
          },
        ],
        NOW,
      ),
    { retryAfterMs: 13_000 },
  ],
  [
    'Gemini retryDelay as { seconds, nanos }',
    () =>
      parseRateLimitHeaders(
        {},
        {
          error: {
            details: [{ '@type': 'google.rpc.RetryInfo', retryDelay: { seconds: 2, nanos: 500_000_000 } }],
          },
        },
        NOW,
      ),
    { retryAfterMs: 2500 },
  ],
  [
    'a Gemini body of the wrong shape',
    () => parseRateLimitHeaders({}, [{ error: { details: [null, 5, { '@type': 7 }] } }], NOW),
    { retryAfterMs: undefined },
  ],
]

describe('parseRateLimitHeaders on malformed and multi-policy headers', () => {
  it.each(hostile)('%s', (_name, parse, expected) => {
    let info: RateLimitInfo | undefined
    expect(() => {
      info = parse()
    }).not.toThrow()
    for (const [key, value] of Object.entries(expected))
      expect(info?.[key as keyof RateLimitInfo], key).toEqual(value)
  })

  it('never throws and never returns a negative or absurd wait, whatever the headers', () => {
    const names = [
      'retry-after',
      'retry-after-ms',
      'x-ms-retry-after-ms',
      'x-ratelimit-reset',
      'x-ratelimit-reset-requests',
      'x-ratelimit-remaining-tokens',
      'anthropic-ratelimit-requests-reset',
      'ratelimit',
      'ratelimit-policy',
      'ratelimit-reset',
    ]
    const value = fc.oneof(
      fc.string(),
      fc.constantFrom(
        '0',
        '-1',
        '1e99',
        '2, 2',
        'NaN',
        '"a";r=0;t=9999999999',
        'Thu, 01 Jan 1970 00:00:00 GMT',
      ),
      fc.integer().map(String),
      fc.constant(undefined),
      fc.constant(null),
      fc.array(fc.oneof(fc.string(), fc.constant(null))),
    )
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...names), value), fc.anything(), (headers, body) => {
        const info = parseRateLimitHeaders(headers as never, body, NOW)
        for (const wait of [
          info.retryAfterMs,
          ...info.policies.map((policy) => policy.resetMs),
          info.requests.resetMs,
          info.tokens.resetMs,
        ])
          if (wait !== undefined) expect(wait >= 0 && wait <= MAX_SANE_WAIT_MS).toBe(true)
      }),
      { numRuns: 500 },
    )
  })
})
