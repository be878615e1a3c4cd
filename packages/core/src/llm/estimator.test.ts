import * as cl100k from 'gpt-tokenizer/encoding/cl100k_base'
import * as o200k from 'gpt-tokenizer/encoding/o200k_base'
import * as tiktoken from 'js-tiktoken'
import { describe, expect, it } from 'vitest'
import { CHAT_OVERHEAD, createEstimator } from './estimator.js'
import { type LlmRequest, parseLlmRequest } from './parse-request.js'
import { gptTokenizer, jsTiktoken, type Tokenizer } from './tokenizer.js'

const plain = { disallowedSpecial: new Set<string>() }
const exact = (model: string) => (text: string) =>
  model.startsWith('gpt-4o') || model.startsWith('gpt-4.1') || model.startsWith('o')
    ? o200k.countTokens(text, plain)
    : cl100k.countTokens(text, plain)

type Fixture = { name: string; model: string; messages: Record<string, unknown>[]; tools?: unknown[] }

const fixtures: Fixture[] = [
  {
    name: 'one user message',
    model: 'gpt-4o',
    messages: [{ role: 'user', content: 'What is the capital of France?' }],
  },
  {
    name: 'system, user, assistant, names',
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You are a terse assistant. Answer in one word.' },
      { role: 'user', name: 'alice', content: 'Colour of the sky?' },
      { role: 'assistant', content: 'Blue.' },
      { role: 'user', name: 'bob_42', content: 'And at night — 夜?' },
    ],
  },
  {
    name: 'multi-part content (cl100k)',
    model: 'gpt-4',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Describe these ' },
          { type: 'text', text: 'two images, briefly.' },
        ],
      },
    ],
  },
  {
    name: 'special-token text is text',
    model: 'gpt-3.5-turbo',
    messages: [{ role: 'user', content: 'Please repeat <|endoftext|> and <|im_start|> literally.' }],
  },
  {
    name: 'gpt-4.1 with code',
    model: 'gpt-4.1',
    messages: [{ role: 'user', content: 'function add(a, b) {\n  return a + b\n}\n// why does this fail?' }],
  },
]

/** OpenAI's counting guide, computed independently: 3 per message, encode every value, 1 per name, 3 for the reply. */
function cookbookCount(fixture: Fixture): number {
  const count = exact(fixture.model)
  let total = CHAT_OVERHEAD.reply
  for (const message of fixture.messages) {
    total += 3
    for (const [key, value] of Object.entries(message)) {
      const text =
        typeof value === 'string'
          ? value
          : (value as { text: string }[]).map((part) => part.text).join('\u0000')
      total +=
        typeof value === 'string'
          ? count(text)
          : (value as { text: string }[]).reduce((sum, part) => sum + count(part.text), 0)
      if (key === 'name') total += 1
    }
  }
  return total
}

function request(fixture: Fixture): LlmRequest {
  const parsed = parseLlmRequest(
    { model: fixture.model, messages: fixture.messages, max_tokens: 10 },
    '/v1/chat/completions',
  )
  if (!parsed || 'invalid' in parsed) throw new Error(`fixture ${fixture.name} does not parse`)
  return parsed
}

describe.each([
  ['gpt-tokenizer', gptTokenizer()],
  ['js-tiktoken', jsTiktoken(tiktoken)],
] as [string, Tokenizer][])('chat token counts with %s', (_name, tokenizer) => {
  it.each(fixtures)('$name equals the exact count plus OpenAI overhead', (fixture) => {
    const estimator = createEstimator({ tokenizer })
    expect(estimator.estimate(request(fixture)).inputTokens).toBe(cookbookCount(fixture))
  })
})

describe('estimates', () => {
  it('negative control: a counter that ignores the overhead misses the fixtures', () => {
    const fixture = fixtures[1]
    const naive = fixture.messages.reduce(
      (sum, message) => sum + exact(fixture.model)(String(message.content)),
      0,
    )
    expect(naive).not.toBe(cookbookCount(fixture))
  })

  it('estimates tools and images, and multiplies the output budget by n', () => {
    const estimator = createEstimator()
    const base = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 }
    const plainEstimate = estimator.estimate(parseLlmRequest(base, '/v1/chat/completions') as LlmRequest)
    const withTools = estimator.estimate(
      parseLlmRequest(
        {
          ...base,
          tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
        },
        '/v1/chat/completions',
      ) as LlmRequest,
    )
    const withImage = estimator.estimate(
      parseLlmRequest(
        {
          ...base,
          messages: [
            {
              role: 'user',
              content: [{ type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'low' } }],
            },
          ],
        },
        '/v1/chat/completions',
      ) as LlmRequest,
    )
    const twoChoices = estimator.estimate(
      parseLlmRequest({ ...base, n: 2 }, '/v1/chat/completions') as LlmRequest,
    )
    expect(withTools.inputTokens).toBeGreaterThan(plainEstimate.inputTokens + 5)
    expect(withImage.inputTokens).toBeGreaterThanOrEqual(85)
    expect(twoChoices.outputTokens).toBe(200)
  })

  it('tokenizes each distinct message once across a multi-turn conversation', () => {
    let calls = 0
    const inner = gptTokenizer()
    const counting: Tokenizer = {
      name: 'spy',
      count: (text, model) => {
        calls++
        return inner.count(text, model)
      },
    }
    const estimator = createEstimator({ tokenizer: counting })
    const history: Record<string, string>[] = []
    for (let turn = 0; turn < 20; turn++) {
      history.push({
        role: turn % 2 ? 'assistant' : 'user',
        content: `Turn ${turn}: ${'lorem ipsum '.repeat(turn + 1)}`,
      })
      estimator.estimate(
        parseLlmRequest({ model: 'gpt-4o', messages: [...history] }, '/v1/chat/completions') as LlmRequest,
      )
    }
    // Two strings (role, content) per distinct message, however many times the history was resent.
    expect(calls).toBe(20 * 2)
  })

  it('reserves the default output budget when the request sets none, and none for embeddings', () => {
    const estimator = createEstimator({ defaultOutputTokens: 321 })
    expect(
      estimator.estimate(
        parseLlmRequest({ model: 'gpt-4o', messages: [] }, '/v1/chat/completions') as LlmRequest,
      ).outputTokens,
    ).toBe(321)
    expect(
      estimator.estimate(
        parseLlmRequest(
          { model: 'text-embedding-3-small', input: ['a', 'b'] },
          '/v1/embeddings',
        ) as LlmRequest,
      ).outputTokens,
    ).toBe(0)
  })

  it('prices estimates from the table in micro-USD', () => {
    const estimator = createEstimator({ prices: { 'my-model': { input: 1, output: 2 } } })
    const estimate = estimator.estimate(
      parseLlmRequest(
        { model: 'my-model', prompt: 'x'.repeat(8), max_tokens: 1000 },
        '/v1/completions',
      ) as LlmRequest,
    )
    expect(estimate.costMicroUsd).toBe(estimate.inputTokens + 2000)
    expect(estimate.costUsd).toBe(estimate.costMicroUsd / 1e6)
  })
})

describe("one request's counting time is bounded", () => {
  /** A tokenizer that takes `microseconds` per call, with one token per 4 characters. */
  const slowTokenizer = (microseconds: number) => {
    const calls = { count: 0 }
    const tokenizer: Tokenizer = {
      name: 'slow',
      count(text) {
        calls.count++
        const until = performance.now() + microseconds / 1000
        while (performance.now() < until) {
          // Busy: the cost of a real count of a hard text.
        }
        return Math.ceil(text.length / 4)
      },
    }
    return { tokenizer, calls }
  }
  // 20,000 distinct parts of 8 characters: 2 tokens each, 40,000 in all, plus the message overhead.
  const parts = Array.from({ length: 20_000 }, (_, i) => ({
    type: 'text',
    text: `w${String(i).padStart(7, '0')}`,
  }))
  const manyParts = () =>
    parseLlmRequest(
      { model: 'gpt-4o', messages: [{ role: 'user', content: parts }] },
      '/v1/chat/completions',
    ) as LlmRequest

  it('extrapolates the rest of a body of 20,000 distinct parts once the budget is spent', () => {
    const { tokenizer, calls } = slowTokenizer(100)
    const estimator = createEstimator({ tokenizer })
    const started = performance.now()
    const estimate = estimator.estimate(manyParts())
    // Unbounded, this is 20,000 calls of 100 µs: 2 s. The budget is 20 ms of counting.
    expect(calls.count).toBeLessThan(2_000)
    expect(performance.now() - started).toBeLessThan(1_000)
    // The rate seen so far carries over: 2 tokens per part, plus role and overheads.
    expect(estimate.inputTokens).toBeGreaterThanOrEqual(40_000)
    expect(estimate.inputTokens).toBeLessThan(40_000 * 1.1)
  })

  it('reads the clock before every long text, so slow counts cannot run past the budget in a batch', () => {
    const { tokenizer, calls } = slowTokenizer(2000)
    const estimator = createEstimator({ tokenizer })
    const long = Array.from({ length: 200 }, (_, i) => `${i} ${'word '.repeat(60)}`)
    const request = parseLlmRequest(
      { model: 'gpt-4o', messages: long.map((content) => ({ role: 'user', content })) },
      '/v1/chat/completions',
    ) as LlmRequest
    estimator.estimate(request)
    // Every count takes at least 2 ms, so the 20 ms budget is gone after 11 (and 'user' once).
    expect(calls.count).toBeLessThanOrEqual(13)
  })

  it('counts the next request in full again, and caches no extrapolated count', () => {
    // One token per 'z', plus one: the 19,999 early messages show a rate the last one does not have.
    const calls = { count: 0 }
    const tokenizer: Tokenizer = {
      name: 'slow-z',
      count(text) {
        calls.count++
        const until = performance.now() + 0.1
        while (performance.now() < until) {
          // Busy, as above.
        }
        return text.split('z').length
      },
    }
    const estimator = createEstimator({ tokenizer })
    const chat = (contents: string[]) =>
      parseLlmRequest(
        { model: 'gpt-4o', messages: contents.map((content) => ({ role: 'user', content })) },
        '/v1/chat/completions',
      ) as LlmRequest
    const early = Array.from({ length: 19_999 }, (_, i) => `a${String(i).padStart(7, '0')}`)
    estimator.estimate(chat([...early, 'zzzzzzzz']))
    const before = calls.count
    // Counted in full: reply and message overheads, 'user', then 8 × 'z' + 1.
    expect(estimator.estimate(chat(['zzzzzzzz'])).inputTokens).toBe(
      CHAT_OVERHEAD.reply + CHAT_OVERHEAD.perMessage + 1 + 9,
    )
    expect(calls.count).toBeGreaterThan(before)
  })

  it('answers 400, never a thrown error, for content nested 100,000 deep', async () => {
    const { createLimiter } = await import('../engine/limiter.js')
    let deep: unknown = 'x'
    for (let i = 0; i < 100_000; i++) deep = [deep]
    const limiter = createLimiter({ rules: [{ by: 'ip', tokens: 1e6, per: '1m' }] })
    const decision = await limiter.check({
      method: 'POST',
      path: '/v1/chat/completions',
      headers: {},
      ip: '203.0.113.1',
      body: { model: 'gpt-4o', messages: [{ role: 'user', content: deep }] },
    })
    expect(decision).toMatchObject({ allowed: false, status: 400, reason: 'invalid_request' })
    expect(decision.message).toMatch(/nested too deeply/)
  })
})

describe('parseLlmRequest', () => {
  it.each([
    [{ model: 'gpt-4o', messages: 'hi' }, /messages/],
    [{ model: 'gpt-4o', messages: [{ content: 'no role' }] }, /role/],
    [{ model: 'gpt-4o', messages: [], max_tokens: -1 }, /max_tokens/],
    [{ model: 'gpt-4o', messages: [], max_tokens: 1e300 }, /max_tokens/],
    [{ model: 'gpt-4o', messages: [], max_tokens: '100' }, /max_tokens/],
    [{ model: 'gpt-4o', messages: [], n: 1000 }, /`n`/],
    [{ messages: [] }, /model/],
  ])('%j is invalid with a message naming the field', (body, message) => {
    const parsed = parseLlmRequest(body, '/v1/chat/completions')
    expect(parsed && 'invalid' in parsed && parsed.invalid).toMatch(message)
  })

  it('leaves non-LLM bodies alone', () => {
    expect(parseLlmRequest({ hello: 'world' }, '/api/things')).toBeUndefined()
    expect(parseLlmRequest([1, 2], '/api/things')).toBeUndefined()
  })

  it('recognises Anthropic messages and requires max_tokens', () => {
    const parsed = parseLlmRequest(
      {
        model: 'claude-sonnet-4-5',
        max_tokens: 64,
        system: 'Be brief.',
        messages: [{ role: 'user', content: 'Hi' }],
      },
      '/v1/messages',
    )
    expect(parsed).toMatchObject({ api: 'anthropic-messages', maxOutputTokens: 64 })
    expect(parseLlmRequest({ model: 'claude-sonnet-4-5', messages: [] }, '/v1/messages')).toEqual({
      invalid: expect.stringMatching(/max_tokens/),
    })
  })
})
