import {
  apiForPath,
  createEstimator,
  createLimiter,
  createUsageSniffer,
  formatBody,
  type LlmRequest,
  parseLlmRequest,
  usageFromJson,
} from '@llm-limit/core'
import { describe, expect, it } from 'vitest'

const body = (extra: Record<string, unknown> = {}) => ({
  contents: [{ role: 'user', parts: [{ text: 'Explain how AI works in a few words' }] }],
  ...extra,
})

describe('Gemini requests are recognised by their path and parsed', () => {
  it.each([
    ['/v1beta/models/gemini-2.5-pro:generateContent', 'gemini-2.5-pro', false],
    ['/v1beta/models/gemini-2.5-flash:streamGenerateContent', 'gemini-2.5-flash', true],
    ['/v1/models/gemini-2.0-flash:generateContent', 'gemini-2.0-flash', false],
    [
      '/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent',
      'gemini-2.5-pro',
      true,
    ],
    ['/v1beta/models/gemini-2.5-pro%3AgenerateContent', 'gemini-2.5-pro', false],
  ])('%s', (path, model, stream) => {
    const parsed = parseLlmRequest(body(), path) as LlmRequest
    expect(parsed).toMatchObject({
      api: 'gemini-generate-content',
      model,
      stream,
      n: 1,
      maxOutputTokens: undefined,
    })
    expect(apiForPath(path)).toBe('gemini-generate-content')
  })

  it('countTokens and model listings are not LLM calls', () => {
    expect(parseLlmRequest(body(), '/v1beta/models/gemini-2.5-pro:countTokens')).toBeUndefined()
    expect(parseLlmRequest(body(), '/v1beta/models/gemini-2.5-pro')).toBeUndefined()
  })

  it('generationConfig: maxOutputTokens and candidateCount, in camelCase or snake_case', () => {
    const path = '/v1beta/models/gemini-2.5-pro:generateContent'
    expect(
      parseLlmRequest(body({ generationConfig: { maxOutputTokens: 500, candidateCount: 3 } }), path),
    ).toMatchObject({
      maxOutputTokens: 500,
      n: 3,
    })
    expect(
      parseLlmRequest(body({ generation_config: { max_output_tokens: 70, candidate_count: 2 } }), path),
    ).toMatchObject({
      maxOutputTokens: 70,
      n: 2,
    })
  })

  it.each([
    [{}, /`contents` must be a non-empty array/],
    [
      { contents: [{ role: 'user', text: 'no parts' }] },
      /`contents\[0\]` must be an object with a `parts` array/,
    ],
    [
      body({ generationConfig: { candidateCount: 0 } }),
      /candidateCount` must be a whole number from 1 to 8, got 0/,
    ],
    [body({ generationConfig: { maxOutputTokens: -1 } }), /maxOutputTokens` must be a whole number from 0/],
    [body({ generationConfig: 'fast' }), /`generationConfig` must be an object/],
    [[1, 2], /must be a JSON object/],
  ])('a bad body is a clear 400: %j', (value, message) => {
    const parsed = parseLlmRequest(value, '/v1beta/models/gemini-2.5-pro:generateContent')
    expect(parsed).toHaveProperty('invalid')
    expect((parsed as { invalid: string }).invalid).toMatch(message)
  })
})

describe('Gemini estimates', () => {
  const estimator = createEstimator({ defaultOutputTokens: 1000 })
  const path = '/v1beta/models/gemini-2.5-flash:generateContent'

  it('reserves maxOutputTokens × candidateCount, and the default plus a thinking budget when no maximum is set', () => {
    const limited = parseLlmRequest(
      body({ generationConfig: { maxOutputTokens: 300, candidateCount: 2 } }),
      path,
    )
    expect(estimator.estimate(limited as LlmRequest).outputTokens).toBe(600)
    const thinking = parseLlmRequest(
      body({ generationConfig: { thinkingConfig: { thinkingBudget: 8192 } } }),
      path,
    )
    expect(estimator.estimate(thinking as LlmRequest).outputTokens).toBe(9192)
  })

  it('counts text of contents and systemInstruction; inline media by a fixed figure, never its base64', () => {
    const text = parseLlmRequest(
      body({ systemInstruction: { parts: [{ text: 'Be brief.' }] } }),
      path,
    ) as LlmRequest
    const plain = parseLlmRequest(body(), path) as LlmRequest
    expect(estimator.estimate(text).inputTokens).toBeGreaterThan(estimator.estimate(plain).inputTokens)
    const image = parseLlmRequest(
      {
        contents: [
          { role: 'user', parts: [{ inlineData: { mimeType: 'image/png', data: 'A'.repeat(400_000) } }] },
        ],
      },
      path,
    ) as LlmRequest
    expect(estimator.estimate(image).inputTokens).toBeLessThan(1000)
  })
})

const RESPONSE_CHUNKS = [
  {
    candidates: [{ content: { parts: [{ text: 'AI learns ' }], role: 'model' } }],
    usageMetadata: {
      promptTokenCount: 9,
      candidatesTokenCount: 2,
      thoughtsTokenCount: 120,
      totalTokenCount: 131,
    },
    modelVersion: 'gemini-2.5-flash',
  },
  {
    candidates: [
      { content: { parts: [{ text: 'patterns from data.' }], role: 'model' }, finishReason: 'STOP' },
    ],
    usageMetadata: {
      promptTokenCount: 9,
      cachedContentTokenCount: 4,
      candidatesTokenCount: 6,
      thoughtsTokenCount: 120,
      totalTokenCount: 135,
    },
    modelVersion: 'gemini-2.5-flash',
  },
]
const FINAL = {
  inputTokens: 9,
  cachedInputTokens: 4,
  outputTokens: 126,
  reasoningTokens: 120,
  model: 'gemini-2.5-flash',
}

describe('Gemini usage, from JSON and from streams', () => {
  it('a generateContent body: usageMetadata with thoughts (billed as output) and cached content', () => {
    expect(usageFromJson(RESPONSE_CHUNKS[1])).toEqual(FINAL)
  })

  it('a streamGenerateContent answer without alt=sse: a JSON array whose last chunk has the usage', () => {
    const sniffer = createUsageSniffer('application/json; charset=UTF-8')
    const text = JSON.stringify(RESPONSE_CHUNKS)
    for (let i = 0; i < text.length; i += 7) sniffer.write(text.slice(i, i + 7))
    expect(sniffer.end()).toEqual(FINAL)
  })

  it('an alt=sse stream of GenerateContentResponse chunks, cut at any byte, CRLF or LF', () => {
    for (const newline of ['\n', '\r\n']) {
      const stream = RESPONSE_CHUNKS.map(
        (chunk) => `data: ${JSON.stringify(chunk)}${newline}${newline}`,
      ).join('')
      const bytes = new TextEncoder().encode(stream)
      for (const step of [1, 5, 64]) {
        const sniffer = createUsageSniffer('text/event-stream')
        for (let i = 0; i < bytes.length; i += step) sniffer.write(bytes.subarray(i, i + step))
        expect(sniffer.end()).toEqual(FINAL)
      }
    }
  })

  it('an aborted stream counts the text it streamed', () => {
    const sniffer = createUsageSniffer('text/event-stream')
    sniffer.write(`data: ${JSON.stringify(RESPONSE_CHUNKS[0])}\n\n`)
    expect(sniffer.streamed().outputTokens).toBeGreaterThan(0)
  })
})

describe("errors in Google's shape", () => {
  it('a 429 says RESOURCE_EXHAUSTED with a RetryInfo the SDKs read', async () => {
    const limiter = createLimiter({ rules: [{ by: 'global', requests: 1, per: '1m' }] })
    const request = {
      method: 'POST',
      path: '/v1beta/models/gemini-2.5-flash:generateContent',
      headers: {},
      ip: '127.0.0.1',
      body: body(),
    }
    await limiter.check(request)
    const denied = await limiter.check(request)
    const response = formatBody(denied, 'gemini')
    expect(response.status).toBe(429)
    const parsed = JSON.parse(response.body)
    expect(parsed.error).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED', message: denied.message })
    expect(parsed.error.details[0]['@type']).toBe('type.googleapis.com/google.rpc.RetryInfo')
    expect(parsed.error.details[0].retryDelay).toMatch(/^\d+(\.\d+)?s$/)
  })
})

describe('downgrades', () => {
  it('a Gemini call is not downgraded: its model is in the path, which rewriting the body cannot change', async () => {
    const limiter = createLimiter({
      rules: [{ name: 'dollars', by: 'global', costUsd: 0.03, per: 'day' }],
      downgrade: { 'gemini-2.5-pro': 'gemini-2.5-flash' },
    })
    const request = (maxOutputTokens: number) => ({
      method: 'POST',
      path: '/v1beta/models/gemini-2.5-pro:generateContent',
      headers: {},
      ip: '127.0.0.1',
      body: body({ generationConfig: { maxOutputTokens } }),
    })
    // $0.01 spent; 2048 more output tokens fit at flash's $2.50 per 1M ($0.005), not at pro's $10 ($0.02).
    expect((await limiter.check(request(1000))).allowed).toBe(true)
    const decision = await limiter.check(request(2048))
    expect(decision.allowed).toBe(false)
    expect(decision.reason).toBe('cost')
    expect(decision.model).toBe('gemini-2.5-pro')
  })
})
