import { brotliCompressSync, gzipSync } from 'node:zlib'
import { type LimiterOptions, memoryStore, type Store } from '@llm-limit/core'
import type { Received, Send } from './apps.js'

/** One conformance scenario: options, requests in order, and checks on every response. */
export interface Scenario {
  name: string
  options?: () => LimiterOptions
  steps: { send: Send; expect: (response: Received) => void }[]
}

type Check = (response: Received) => void

const chat = (extra: object = {}) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello to the conformance suite.' }],
  max_tokens: 100,
  ...extra,
})
/** Alternates the key resolver between throwing and rejecting. */
let failures = 0
const POST_CHAT: Send = { path: '/v1/chat/completions', json: chat() }
const PING: Send = { path: '/ping' }
const DECISION: Send = { path: '/decision' }

/** Asserts with a message that says which expectation failed. */
function must(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message)
}
const status =
  (code: number): Check =>
  (r) =>
    must(r.status === code, `expected status ${code}, got ${r.status}: ${r.body}`)
const header =
  (name: string, value: string | RegExp | undefined): Check =>
  (r) => {
    const actual = r.headers[name]
    const ok =
      value === undefined
        ? actual === undefined
        : typeof value === 'string'
          ? actual === value
          : value.test(actual ?? '')
    must(ok, `expected header ${name} ${String(value)}, got ${String(actual)}`)
  }
// biome-ignore lint/suspicious/noExplicitAny: response bodies are arbitrary JSON probed by each scenario.
type Json = any
const json =
  (check: (body: Json) => boolean, what: string): Check =>
  (r) => {
    must(check(JSON.parse(r.body)), `expected body ${what}, got ${r.body}`)
  }
const all =
  (...checks: Check[]): Check =>
  (r) => {
    for (const check of checks) check(r)
  }
const times = (count: number, send: Send, expect: Check) =>
  Array.from({ length: count }, () => ({ send, expect }))

const tiny =
  (options: Partial<LimiterOptions> = {}) =>
  () => ({
    store: memoryStore(),
    rules: [{ name: 'tiny', requests: 2, per: '1m' as const }],
    ...options,
  })

const brokenStore: Store = {
  name: 'broken',
  consume: () => Promise.reject(new Error('connection refused')),
  adjust: () => Promise.reject(new Error('connection refused')),
}

const denied429 = all(status(429), header('retry-after', /^[1-9]\d*$/), header('retry-after-ms', /^\d+$/))

/** The scenario table every adapter runs unchanged. */
export const scenarios: Scenario[] = [
  {
    name: 'no options: allowed, all three header sets',
    steps: [
      {
        send: PING,
        expect: all(
          status(200),
          header('x-ratelimit-limit-requests', /^\d+$/),
          header('ratelimit-policy', /"ip-requests";q=60;w=60/),
          header('x-ratelimit-limit', /^\d+$/),
        ),
      },
    ],
  },
  {
    name: 'request limit: 200s then 429 with Retry-After',
    options: tiny(),
    steps: [...times(2, PING, status(200)), { send: PING, expect: denied429 }],
  },
  {
    name: 'OpenAI headers count down',
    options: tiny(),
    steps: [
      {
        send: PING,
        expect: all(
          header('x-ratelimit-limit-requests', '2'),
          header('x-ratelimit-remaining-requests', '1'),
          header('x-ratelimit-reset-requests', /^\d+(\.\d+)?s$/),
        ),
      },
      { send: PING, expect: header('x-ratelimit-remaining-requests', '0') },
    ],
  },
  {
    name: 'OpenAI-shaped 429 body',
    options: tiny(),
    steps: [
      ...times(2, PING, status(200)),
      {
        send: PING,
        expect: json(
          (b) =>
            b.error.code === 'rate_limit_exceeded' &&
            b.error.type === 'requests' &&
            b.error.param === null &&
            /'tiny'/.test(b.error.message),
          'an OpenAI error',
        ),
      },
    ],
  },
  {
    name: 'IETF draft-6 headers',
    options: tiny({ headers: { ietf: 'draft-6' } }),
    steps: [
      {
        send: PING,
        expect: all(
          header('ratelimit-limit', '2'),
          header('ratelimit-remaining', '1'),
          header('ratelimit-reset', /^\d+$/),
          header('ratelimit-policy', '2;w=60'),
        ),
      },
    ],
  },
  {
    name: 'IETF draft-7 headers',
    options: tiny({ headers: { ietf: 'draft-7' } }),
    steps: [
      {
        send: PING,
        expect: all(
          header('ratelimit', /^limit=2, remaining=1, reset=\d+$/),
          header('ratelimit-policy', '2;w=60'),
        ),
      },
    ],
  },
  {
    name: 'IETF draft-8 headers',
    options: tiny({ headers: { ietf: 'draft-8' } }),
    steps: [
      {
        send: PING,
        expect: all(header('ratelimit', /^"tiny";r=1;t=\d+$/), header('ratelimit-policy', '"tiny";q=2;w=60')),
      },
    ],
  },
  {
    name: 'IETF draft-11 headers (default) with the token unit in a vendor parameter',
    options: () => ({ rules: [{ name: 'tpm', tokens: 5000, per: '1m' }] }),
    steps: [
      {
        send: POST_CHAT,
        expect: all(
          header('ratelimit-policy', '"tpm";q=5000;w=60;llm-limit-unit="tokens"'),
          header('ratelimit', /^"tpm";r=\d+;t=\d+$/),
        ),
      },
    ],
  },
  {
    name: 'header sets can be turned off',
    options: tiny({ headers: { openai: false, ietf: false, legacy: false } }),
    steps: [
      {
        send: PING,
        expect: all(
          status(200),
          header('x-ratelimit-limit-requests', undefined),
          header('ratelimit', undefined),
          header('x-ratelimit-limit', undefined),
        ),
      },
    ],
  },
  {
    name: 'legacy headers of the most restrictive rule',
    options: () => ({
      rules: [
        { name: 'big', requests: 100, per: '1m' },
        { name: 'small', requests: 3, per: '1m' },
      ],
    }),
    steps: [
      {
        send: PING,
        expect: all(
          header('x-ratelimit-limit', '3'),
          header('x-ratelimit-remaining', '2'),
          header('x-ratelimit-reset', /^\d{10}$/),
        ),
      },
    ],
  },
  {
    name: 'Anthropic-shaped 429 body',
    options: tiny({ errorFormat: 'anthropic' }),
    steps: [
      ...times(2, PING, status(200)),
      {
        send: PING,
        expect: all(
          denied429,
          json((b) => b.type === 'error' && b.error.type === 'rate_limit_error', 'an Anthropic error'),
        ),
      },
    ],
  },
  {
    name: 'problem+json 429 body',
    options: tiny({ errorFormat: 'problem' }),
    steps: [
      ...times(2, PING, status(200)),
      {
        send: PING,
        expect: all(
          denied429,
          header('content-type', /^application\/problem\+json/),
          json((b) => b.status === 429 && b.rule === 'tiny', 'a problem document'),
        ),
      },
    ],
  },
  {
    name: 'custom error format',
    options: tiny({
      errorFormat: (d) => ({ status: 429, contentType: 'text/plain', body: `slow down (${d.rule})` }),
    }),
    steps: [
      ...times(2, PING, status(200)),
      {
        send: PING,
        expect: (r) => must(r.status === 429 && r.body === 'slow down (tiny)', `custom body, got ${r.body}`),
      },
    ],
  },
  {
    name: 'route override replaces the global rules',
    options: tiny({
      routes: { 'GET /decision': { rules: [{ name: 'route-rule', requests: 3, per: '1m' }] } },
    }),
    steps: [
      ...times(
        3,
        DECISION,
        all(
          status(200),
          json((b) => b.rules.join() === 'route-rule', 'only the route rule'),
        ),
      ),
      { send: DECISION, expect: status(429) },
      ...times(2, PING, status(200)),
    ],
  },
  {
    name: "a route's rules hold for the same path in other case or with a trailing slash",
    options: tiny({
      routes: { 'POST /v1/chat/completions': { rules: [{ name: 'route-rule', requests: 3, per: '1m' }] } },
    }),
    steps: [
      // Express and Koa serve these from the /v1/chat/completions handler: the route's 3, not the global 2.
      ...['/V1/Chat/Completions', '/v1/chat/completions/', '/v1/CHAT/completions'].map((path) => ({
        send: { path, json: chat() },
        expect: all(status(200), header('ratelimit-policy', /"route-rule"/)),
      })),
      { send: { path: '/v1/chat/completions', json: chat() }, expect: status(429) },
    ],
  },
  {
    name: 'route skip',
    options: tiny({ routes: { '/ping': { skip: true } } }),
    steps: times(4, PING, all(status(200), header('x-ratelimit-limit-requests', undefined))),
  },
  {
    name: 'skip option',
    options: tiny({ skip: (request) => request.path === '/ping' }),
    steps: times(4, PING, status(200)),
  },
  {
    name: 'shadow mode reports but never blocks',
    options: tiny({ mode: 'shadow' }),
    steps: [
      ...times(2, DECISION, status(200)),
      {
        send: DECISION,
        expect: all(
          status(200),
          json((b) => b.allowed === true && b.wouldDeny === true && b.reason === 'requests', 'wouldDeny'),
        ),
      },
    ],
  },
  {
    name: 'request larger than a token rule: 413, not retryable',
    options: () => ({ rules: [{ name: 'tpm', tokens: 500, per: '1m' }] }),
    steps: [
      {
        send: { path: '/v1/chat/completions', json: chat({ max_tokens: 4000 }) },
        expect: all(
          status(413),
          header('x-should-retry', 'false'),
          header('retry-after', undefined),
          json(
            (b) => b.error.code === 'request_too_large' && /'tpm'/.test(b.error.message),
            'request_too_large',
          ),
        ),
      },
    ],
  },
  {
    name: 'reconcile: actual usage replaces the estimate',
    options: () => ({
      store: memoryStore(),
      rules: [{ name: 'tpm', tokens: 1000, per: '1h', algorithm: 'fixed-window' }],
    }),
    steps: [
      { send: POST_CHAT, expect: status(200) },
      // 20 tokens were used, so 980 are left; the estimate alone (>100) would have left less.
      { send: PING, expect: header('x-ratelimit-remaining-tokens', '980') },
    ],
  },
  {
    name: 'streaming: the final SSE usage event is committed',
    options: () => ({
      store: memoryStore(),
      rules: [{ name: 'tpm', tokens: 1000, per: '1h', algorithm: 'fixed-window' }],
    }),
    steps: [
      {
        send: { path: '/v1/chat/completions', json: chat({ stream: true }) },
        expect: all(status(200), header('content-type', /text\/event-stream/), (r) =>
          must(r.body.includes('[DONE]'), 'the whole stream'),
        ),
      },
      { send: PING, expect: header('x-ratelimit-remaining-tokens', '980') },
    ],
  },
  {
    name: 'upstream error releases the reservation',
    options: () => ({
      store: memoryStore(),
      rules: [{ name: 'tpm', tokens: 1000, per: '1h', algorithm: 'fixed-window' }],
    }),
    steps: [
      { send: { path: '/upstream-error', json: chat() }, expect: status(502) },
      { send: PING, expect: header('x-ratelimit-remaining-tokens', '1000') },
    ],
  },
  {
    name: 'handler commit() wins over the response usage',
    options: () => ({
      store: memoryStore(),
      rules: [{ name: 'tpm', tokens: 1000, per: '1h', algorithm: 'fixed-window' }],
    }),
    steps: [
      { send: { path: '/commit', json: chat() }, expect: status(200) },
      { send: PING, expect: header('x-ratelimit-remaining-tokens', '998') },
    ],
  },
  {
    name: 'daily dollar budget: insufficient_quota, not retryable',
    options: () => ({ rules: [{ name: 'usd-day', costUsd: 0.0001, per: 'day' }] }),
    steps: [
      {
        send: { path: '/v1/chat/completions', json: chat({ model: 'gpt-4o', max_tokens: 5 }) },
        expect: status(200),
      },
      {
        send: { path: '/v1/chat/completions', json: chat({ model: 'gpt-4o', max_tokens: 5 }) },
        expect: all(
          status(429),
          header('x-should-retry', 'false'),
          json((b) => b.error.code === 'insufficient_quota' && b.error.type === 'cost', 'insufficient_quota'),
        ),
      },
    ],
  },
  {
    name: 'concurrency leases are released after each response',
    options: () => ({ rules: [{ name: 'par', concurrent: 1 }] }),
    steps: times(4, POST_CHAT, status(200)),
  },
  {
    name: 'model not on the plan: 403 naming the allowed models',
    options: () => ({ plans: { free: { models: ['gpt-4o-mini'] } }, plan: 'free' }),
    steps: [
      {
        send: { path: '/v1/chat/completions', json: chat({ model: 'gpt-4o' }) },
        expect: all(
          status(403),
          json(
            (b) => b.error.code === 'model_not_allowed' && /gpt-4o-mini/.test(b.error.message),
            'model_not_allowed',
          ),
        ),
      },
    ],
  },
  {
    name: 'context above the plan cap: 400 context_length_exceeded',
    options: () => ({ plans: { free: { maxContextTokens: 50 } }, plan: 'free' }),
    steps: [
      {
        send: POST_CHAT,
        expect: all(
          status(400),
          json((b) => b.error.code === 'context_length_exceeded', 'context_length_exceeded'),
        ),
      },
    ],
  },
  {
    name: 'malformed JSON: 400 with a clear message',
    steps: [
      {
        send: { path: '/v1/chat/completions', raw: '{"model": "gpt-4o", "messages": [' },
        expect: all(
          status(400),
          json((b) => /not valid JSON/.test(b.error.message), 'a JSON error'),
        ),
      },
    ],
  },
  {
    name: 'gzip and Brotli bodies are decoded and estimated like plain ones',
    // A fixed window: a token bucket refills between the two requests, by more the slower they come.
    options: () => ({
      rules: [{ name: 'tph', by: 'ip', tokens: 1_000_000, per: '1h', algorithm: 'fixed-window' }],
    }),
    steps: [
      {
        send: {
          path: '/v1/chat/completions',
          headers: { 'content-encoding': 'gzip' },
          raw: gzipSync(JSON.stringify(chat())),
        },
        expect: all(status(200), header('x-ratelimit-remaining-tokens', /^\d+$/)),
      },
      {
        send: {
          path: '/v1/chat/completions',
          headers: { 'content-encoding': 'br' },
          raw: brotliCompressSync(JSON.stringify(chat())),
        },
        expect: status(200),
      },
    ],
  },
  {
    name: 'bad gzip: 400; an unknown Content-Encoding: 415; a small gzip bomb: 413',
    options: () => ({ maxBodyBytes: 64 * 1024 }),
    steps: [
      {
        send: { path: '/v1/chat/completions', headers: { 'content-encoding': 'gzip' }, raw: 'not gzip' },
        expect: all(
          status(400),
          json((b) => /not valid gzip/.test(b.error.message), 'a gzip error'),
        ),
      },
      {
        send: { path: '/v1/chat/completions', headers: { 'content-encoding': 'zstd' }, raw: '{}' },
        expect: all(
          status(415),
          json((b) => /Content-Encoding 'zstd'/.test(b.error.message), 'an encoding error'),
        ),
      },
      {
        send: {
          path: '/v1/chat/completions',
          headers: { 'content-encoding': 'gzip' },
          // 10 MB of JSON in about 10 KB of gzip.
          raw: gzipSync(
            JSON.stringify(chat({ messages: [{ role: 'user', content: 'a'.repeat(10_000_000) }] })),
          ),
        },
        expect: status(413),
      },
    ],
  },
  {
    name: 'body above maxBodyBytes: 413',
    options: () => ({ maxBodyBytes: 1024 }),
    steps: [
      {
        send: {
          path: '/v1/chat/completions',
          json: chat({ messages: [{ role: 'user', content: 'x'.repeat(5000) }] }),
        },
        expect: all(
          status(413),
          json((b) => /maxBodyBytes/.test(b.error.message), 'a size error'),
        ),
      },
    ],
  },
  {
    name: 'LLM body of the wrong shape: 400',
    steps: [
      {
        send: { path: '/v1/chat/completions', json: { model: 'gpt-4o', messages: 'hello' } },
        expect: all(
          status(400),
          json((b) => /messages/.test(b.error.message), 'a shape error'),
        ),
      },
    ],
  },
  {
    name: 'JSON null or an array on an LLM route: 400, the body must be an object',
    steps: [
      { send: { path: '/v1/chat/completions', raw: 'null' }, expect: status(400) },
      {
        send: { path: '/v1/chat/completions', json: [chat()] },
        expect: all(
          status(400),
          json((b) => /must be a JSON object/.test(b.error.message), 'a JSON object error'),
        ),
      },
    ],
  },
  {
    name: 'content nested 100,000 deep: 400, not a 500',
    steps: [
      {
        send: {
          path: '/v1/chat/completions',
          raw: `{"model":"gpt-4o","messages":[{"role":"user","content":${'['.repeat(100_000)}"x"${']'.repeat(100_000)}}]}`,
        },
        expect: all(
          status(400),
          json((b) => /nested too deeply/.test(b.error.message), 'a nesting error'),
        ),
      },
    ],
  },
  {
    name: "an app's own route that ends like an LLM one is a plain request",
    options: tiny(),
    steps: [
      ...times(2, { path: '/conversations/7/messages', json: { text: 'hi' } }, status(200)),
      { send: { path: '/conversations/7/messages', json: { text: 'hi' } }, expect: status(429) },
    ],
  },
  {
    name: 'non-LLM JSON still counts as a request',
    options: tiny(),
    steps: [
      ...times(2, { path: '/other', json: { hello: 'world' } }, status(200)),
      { send: { path: '/other', json: { hello: 'world' } }, expect: status(429) },
    ],
  },
  {
    name: 'API key resolver throws or rejects: 503 to retry, never a 500',
    options: () => ({
      identify: {
        apiKey: {
          resolve: () => {
            if (failures++ % 2 === 0) throw new Error('the key database is down')
            return Promise.reject(new Error('the key database is down'))
          },
        },
      },
    }),
    steps: times(
      2,
      { path: '/ping', headers: { authorization: 'Bearer sk-conformance-key' } },
      all(
        status(503),
        header('retry-after', '1'),
        json(
          (b) => b.error.code === 'store_unavailable' && /could not be checked/.test(b.error.message),
          'a lookup error',
        ),
      ),
    ),
  },
  {
    name: 'store down, fail-closed: 503',
    options: () => ({ store: brokenStore, onStoreError: 'fail-closed' }),
    steps: [
      {
        send: PING,
        expect: all(
          status(503),
          json((b) => b.error.code === 'store_unavailable', 'store_unavailable'),
        ),
      },
    ],
  },
  {
    name: 'store down, fail-open: 200',
    options: () => ({ store: brokenStore, onStoreError: 'fail-open' }),
    steps: times(2, PING, status(200)),
  },
  {
    name: 'store down, insurance store limits',
    options: () => ({
      store: brokenStore,
      onStoreError: { insurance: memoryStore() },
      rules: [{ name: 'tiny', requests: 1, per: '1m' }],
    }),
    steps: [
      { send: PING, expect: status(200) },
      { send: PING, expect: status(429) },
    ],
  },
  {
    name: 'API keys get separate buckets',
    options: () => ({ rules: [{ name: 'per-key', by: 'apiKey', requests: 1, per: '1m' }] }),
    steps: [
      { send: { path: '/ping', headers: { authorization: 'Bearer sk-one' } }, expect: status(200) },
      { send: { path: '/ping', headers: { authorization: 'Bearer sk-two' } }, expect: status(200) },
      { send: { path: '/ping', headers: { authorization: 'Bearer sk-one' } }, expect: status(429) },
    ],
  },
  {
    name: 'downgrade to a cheaper model when tokens run out',
    options: () => ({
      store: memoryStore(),
      rules: [{ name: 'gpt4o-tpm', tokens: 150, per: '1h', algorithm: 'fixed-window', models: ['gpt-4o'] }],
      downgrade: { 'gpt-4o': 'gpt-4o-mini' },
    }),
    steps: [
      {
        send: { path: '/decision', json: chat({ model: 'gpt-4o' }) },
        expect: all(
          status(200),
          json((b) => b.model === 'gpt-4o', 'gpt-4o'),
        ),
      },
      {
        send: { path: '/decision', json: chat({ model: 'gpt-4o' }) },
        expect: all(
          status(200),
          header('x-llm-limit-downgraded-from', 'gpt-4o'),
          header('x-llm-limit-model', 'gpt-4o-mini'),
          json((b) => b.model === 'gpt-4o-mini' && b.bodyModel === 'gpt-4o-mini', 'downgraded'),
        ),
      },
    ],
  },
  {
    name: 'Anthropic messages are estimated and reconciled',
    options: () => ({
      store: memoryStore(),
      rules: [{ name: 'tpm', tokens: 1000, per: '1h', algorithm: 'fixed-window' }],
    }),
    steps: [
      {
        send: {
          path: '/v1/messages',
          json: {
            model: 'claude-3-5-haiku-latest',
            max_tokens: 100,
            messages: [{ role: 'user', content: 'Hi' }],
          },
        },
        expect: status(200),
      },
      { send: PING, expect: header('x-ratelimit-remaining-tokens', '980') },
    ],
  },
  {
    name: 'embeddings reserve no output tokens',
    options: () => ({ rules: [{ name: 'tpm', tokens: 1000, per: '1h', algorithm: 'fixed-window' }] }),
    steps: [
      {
        send: { path: '/decision', json: { model: 'text-embedding-3-small', input: 'embed me' } },
        expect: json((b) => b.estimate.outputTokens === 0 && b.estimate.inputTokens > 0, 'no output budget'),
      },
    ],
  },
]
