import { createUsageSniffer } from '@llm-limit/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FakeApi, fakeAnswers } from './fake-answers.js'
import { fakeUpstream } from './fake-upstream.js'

const PATHS: Record<FakeApi, string> = {
  'openai-chat': '/v1/chat/completions',
  'openai-responses': '/v1/responses',
  'anthropic-messages': '/v1/messages',
}
const APIS = Object.keys(PATHS) as FakeApi[]
const request = (stream: boolean) => ({
  model: 'm',
  stream,
  max_tokens: 8,
  stream_options: stream ? { include_usage: true } : undefined,
  messages: [{ role: 'user', content: 'hi' }],
})

/** The `response` object of a Responses stream's last event. */
function finalResponse(stream: string): { usage: unknown; status: string } {
  const data = stream.trim().split('\n\n').at(-1)?.split('\ndata: ')[1] ?? '{}'
  return (JSON.parse(data) as { response: { usage: unknown; status: string } }).response
}

/** What llm-limit itself reads from a whole body. */
async function usageOf(response: Response) {
  const sniffer = createUsageSniffer(response.headers.get('content-type') ?? undefined)
  sniffer.write(await response.text())
  return sniffer.end()
}

describe('fake upstream answers carry the usage llm-limit reads', () => {
  const upstream = fakeUpstream({ inputTokens: 40, outputTokens: 5 })

  it.each(APIS.flatMap((api) => [false, true].map((stream) => [api, stream] as const)))(
    '%s (stream: %s) complete: the usage given, the text of that many words',
    async (api, stream) => {
      const response = await upstream.fetch(`http://fake${PATHS[api]}`, {
        method: 'POST',
        body: JSON.stringify(request(stream)),
      })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe(stream ? 'text/event-stream' : 'application/json')
      expect(await usageOf(response)).toMatchObject({ inputTokens: 40, outputTokens: 5 })
    },
  )

  it.each(APIS.flatMap((api) => [false, true].map((stream) => [api, stream] as const)))(
    '%s (stream: %s) incomplete: the whole budget spent, and the API says it stopped there',
    async (api, stream) => {
      upstream.next({ ending: 'incomplete' })
      const response = await upstream.fetch(`http://fake${PATHS[api]}`, {
        method: 'POST',
        body: JSON.stringify(request(stream)),
      })
      const text = await response.text()
      expect(text).toMatch(/"length"|"max_tokens"|"max_output_tokens"/)
      if (api === 'openai-responses' && stream) {
        // llm-limit's sniffer reads usage only from response.completed (reported in the kit's
        // docs); the billed usage is still in response.incomplete, as OpenAI sends it.
        expect(finalResponse(text).usage).toMatchObject({ input_tokens: 40, output_tokens: 8 })
        return
      }
      const sniffer = createUsageSniffer(response.headers.get('content-type') ?? undefined)
      sniffer.write(text)
      expect(sniffer.end()).toMatchObject({ inputTokens: 40, outputTokens: 8 })
    },
  )

  it.each(APIS)('%s failed (JSON): an error status in the API’s shape, no usage', async (api) => {
    upstream.next({ ending: 'failed' })
    const response = await upstream.fetch(`http://fake${PATHS[api]}`, {
      method: 'POST',
      body: JSON.stringify(request(false)),
    })
    expect(response.status).toBe(api === 'anthropic-messages' ? 529 : 500)
    expect(await response.json()).toHaveProperty('error')
  })

  it('streamed failures: chat sends an error and no usage, Messages an error event after message_start; Responses ends response.failed with usage', () => {
    const chat = fakeAnswers['openai-chat'](request(true), { ending: 'failed' })
    const messages = fakeAnswers['anthropic-messages'](request(true), { ending: 'failed' })
    const responses = fakeAnswers['openai-responses'](request(true), { ending: 'failed', inputTokens: 3 })
    if (chat.kind !== 'sse' || messages.kind !== 'sse' || responses.kind !== 'sse')
      throw new Error('expected SSE')
    expect(chat.events.at(-1)).toContain('"server_error"')
    expect(chat.events.join('')).not.toContain('[DONE]')
    expect(messages.events.at(-1)).toMatch(/^event: error\n/)
    expect(responses.events.at(-1)).toMatch(/^event: response\.failed\n/)
    const sniff = (events: string[]) => {
      const sniffer = createUsageSniffer('text/event-stream')
      sniffer.write(events.join(''))
      return sniffer.end()
    }
    expect(sniff(chat.events)).toBeUndefined()
    // Messages reported its input in message_start before failing, as Anthropic does.
    expect(sniff(messages.events)).toMatchObject({
      inputTokens: Math.ceil(JSON.stringify(request(true)).length / 4),
    })
    expect(finalResponse(responses.events.join(''))).toMatchObject({
      status: 'failed',
      error: { code: 'server_error' },
      usage: { input_tokens: 3, output_tokens: 8 },
    })
  })

  it.each(APIS.flatMap((api) => [false, true].map((stream) => [api, stream] as const)))(
    '%s (stream: %s) aborted through fetch: the body errors after part of it arrived',
    async (api, stream) => {
      upstream.next({ ending: 'aborted' })
      const response = await upstream.fetch(`http://fake${PATHS[api]}`, {
        method: 'POST',
        body: JSON.stringify(request(stream)),
      })
      expect(response.status).toBe(200)
      await expect(response.text()).rejects.toThrow(/cut the connection/)
    },
  )

  it.each(APIS)(
    '%s rate-limited: a 429 in the API’s shape with retry-after and its rate-limit headers',
    async (api) => {
      upstream.next({ ending: 'rate-limited', retryAfterSeconds: 7 })
      const response = await upstream.fetch(`http://fake${PATHS[api]}`, {
        method: 'POST',
        body: JSON.stringify(request(true)),
      })
      expect(response.status).toBe(429)
      expect(response.headers.get('retry-after')).toBe('7')
      const remaining =
        api === 'anthropic-messages'
          ? 'anthropic-ratelimit-requests-remaining'
          : 'x-ratelimit-remaining-requests'
      expect(response.headers.get(remaining)).toBe('0')
      expect(await response.json()).toHaveProperty('error')
    },
  )

  it('records each call with its API and ending, and refuses unknown routes in OpenAI’s shape', async () => {
    const local = fakeUpstream()
    local.next({ ending: 'incomplete' })
    local.answer('/v1/messages', {})
    local.answer('/v1/chat/completions', {})
    expect(local.calls.map((call) => [call.api, call.ending])).toEqual([
      ['anthropic-messages', 'incomplete'],
      ['openai-chat', 'complete'],
    ])
    const unknown = local.answer('/v1/embeddings', {})
    expect(unknown).toMatchObject({ kind: 'json', status: 404, body: { error: { code: 'unknown_url' } } })
  })

  it('rejects a misspelled ending with a message that lists the endings', () => {
    expect(() => fakeAnswers['openai-chat']({}, { ending: 'aborte' as 'aborted' })).toThrow(
      /'complete', 'aborted', 'incomplete', 'failed' or 'rate-limited'/,
    )
    expect(() => fakeAnswers['openai-chat']({}, { inputTokens: -1 })).toThrow(/whole number of tokens/)
  })
})

describe('fake upstream over HTTP', () => {
  const upstream = fakeUpstream({ inputTokens: 10, outputTokens: 4 })
  let server: Awaited<ReturnType<typeof upstream.listen>>
  beforeAll(async () => {
    server = await upstream.listen()
  })
  afterAll(() => server.close())

  it('serves a stream with its usage on 127.0.0.1', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/)
    const response = await fetch(`${server.url}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request(true)),
    })
    expect(await usageOf(response)).toMatchObject({ inputTokens: 10, outputTokens: 4 })
  })

  it('an aborted answer drops the socket mid-body', async () => {
    upstream.next({ ending: 'aborted' })
    const response = await fetch(`${server.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request(true)),
    })
    expect(response.status).toBe(200)
    await expect(response.text()).rejects.toThrow(/terminated/)
  })
})
