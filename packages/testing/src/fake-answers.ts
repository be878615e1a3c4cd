/**
 * How a fake answer ends: as it should, cut off mid-body, stopped at the token budget, failed, or
 * refused with a 429 before it began (with `retry-after` and the provider's rate-limit headers).
 */
export type Ending = 'complete' | 'aborted' | 'incomplete' | 'failed' | 'rate-limited'

/** The APIs a fake upstream speaks. */
export type FakeApi = 'openai-chat' | 'openai-responses' | 'anthropic-messages'

/**
 * One answer of a fake upstream: a JSON body with its status, or server-sent events. `abortAfter`
 * (events, or for JSON the characters of the body) sent before the connection is cut.
 */
export type FakeAnswer =
  | { kind: 'json'; status: number; body: object; abortAfter?: number; headers?: Record<string, string> }
  | { kind: 'sse'; events: string[]; abortAfter?: number }

/** What a fake answer says; every field has a default taken from the request. */
export interface FakeAnswerOptions {
  /** How the answer ends. @default 'complete' */
  ending?: Ending
  /** Input tokens reported in `usage`. @default the request body's characters ÷ 4, rounded up */
  inputTokens?: number
  /** Output tokens of a complete answer (one word each), capped by the request's token budget. @default 12 */
  outputTokens?: number
  /** The `retry-after` of a `rate-limited` answer, in seconds. @default 1 */
  retryAfterSeconds?: number
}

const WORDS =
  'Rate limits keep one greedy client from spending everyone else’s budget in a single afternoon.'.split(' ')

/** The request fields the fakes read (all optional). */
interface RequestShape {
  model?: string
  stream?: boolean
  max_tokens?: number
  max_completion_tokens?: number
  max_output_tokens?: number
  stream_options?: { include_usage?: boolean }
}

/** The usage of one answer, in the fake's own terms, plus the text it spells. */
interface Plan {
  api: FakeApi
  ending: Ending
  model: string
  stream: boolean
  inputTokens: number
  outputTokens: number
  words: string[]
  id: string
}

let sequence = 0

function plan(api: FakeApi, request: unknown, options: FakeAnswerOptions): Plan {
  const body = (typeof request === 'object' && request !== null ? request : {}) as RequestShape
  const ending = options.ending ?? 'complete'
  if (!['complete', 'aborted', 'incomplete', 'failed', 'rate-limited'].includes(ending))
    throw new TypeError(
      `Expected \`ending\` to be 'complete', 'aborted', 'incomplete', 'failed' or 'rate-limited', got ${JSON.stringify(ending)}.`,
    )
  const budget = body.max_completion_tokens ?? body.max_tokens ?? body.max_output_tokens ?? 16
  const wanted = count(options.outputTokens, 12, 'outputTokens')
  // Incomplete means the budget ran out: exactly `budget` tokens were produced.
  const outputTokens = Math.max(1, ending === 'incomplete' ? budget : Math.min(wanted, budget))
  const words = Array.from({ length: outputTokens }, (_, i) => WORDS[i % WORDS.length])
  const inputTokens = count(
    options.inputTokens,
    Math.ceil(JSON.stringify(request ?? {}).length / 4),
    'inputTokens',
  )
  const defaultModel = api === 'anthropic-messages' ? 'claude-haiku-4-5' : 'gpt-4o-mini'
  return {
    api,
    ending,
    model: typeof body.model === 'string' ? body.model : defaultModel,
    stream: body.stream === true,
    inputTokens,
    outputTokens,
    words,
    id: `${Date.now().toString(36)}${(++sequence).toString(36)}`,
  }
}

function count(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < 0)
    throw new TypeError(`Expected \`${name}\` to be a whole number of tokens >= 0, got ${String(value)}.`)
  return value
}

const text = (p: Plan) => p.words.map((word, i) => (i === 0 ? word : ` ${word}`))
const half = (length: number) => Math.max(1, Math.floor(length / 2))

/** Cuts a complete answer in half: the connection drops mid-body. */
function aborted(answer: FakeAnswer): FakeAnswer {
  if (answer.kind === 'sse') return { ...answer, abortAfter: half(answer.events.length) }
  return { ...answer, abortAfter: half(JSON.stringify(answer.body).length) }
}

/** The 429 each API sends, with `retry-after` and the provider's own rate-limit headers. */
function rateLimited(api: FakeApi, options: FakeAnswerOptions): FakeAnswer {
  const seconds = count(options.retryAfterSeconds, 1, 'retryAfterSeconds')
  const message = `Rate limit reached (fake upstream); retry after ${seconds} s.`
  if (api === 'anthropic-messages')
    return {
      ...anthropicError(429, 'rate_limit_error', message),
      headers: {
        'retry-after': String(seconds),
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '0',
      },
    }
  return {
    ...openAiError(429, message, 'requests', 'rate_limit_exceeded'),
    headers: {
      'retry-after': String(seconds),
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': `${seconds}s`,
    },
  }
}

/** An error in OpenAI's shape. */
export function openAiError(
  status: number,
  message: string,
  type = 'server_error',
  code: string | null = null,
) {
  return { kind: 'json', status, body: { error: { message, type, param: null, code } } } satisfies FakeAnswer
}

/** An error in Anthropic's shape. */
export function anthropicError(status: number, type: string, message: string) {
  return { kind: 'json', status, body: { type: 'error', error: { type, message } } } satisfies FakeAnswer
}

/**
 * Answers like OpenAI's chat completions endpoint, with real `usage` (streamed only when the request
 * asks for `stream_options.include_usage`, as OpenAI does).
 */
export function openAiChatAnswer(request: unknown, options: FakeAnswerOptions = {}): FakeAnswer {
  const p = plan('openai-chat', request, options)
  if (p.ending === 'rate-limited') return rateLimited('openai-chat', options)
  if (p.ending === 'failed' && !p.stream)
    return openAiError(500, 'The server had an error while processing your request.')
  const usage = {
    prompt_tokens: p.inputTokens,
    completion_tokens: p.outputTokens,
    total_tokens: p.inputTokens + p.outputTokens,
  }
  const id = `chatcmpl-fake-${p.id}`
  const created = 1_781_524_800
  const finish = p.ending === 'incomplete' ? 'length' : 'stop'
  let answer: FakeAnswer
  if (!p.stream) {
    const choices = [
      { index: 0, message: { role: 'assistant', content: text(p).join('') }, finish_reason: finish },
    ]
    answer = {
      kind: 'json',
      status: 200,
      body: { id, object: 'chat.completion', created, model: p.model, choices, usage },
    }
  } else {
    const chunk = (choices: unknown[], extra: object = {}) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: p.model, choices, ...extra })}\n\n`
    const events = text(p).map((word) => chunk([{ index: 0, delta: { content: word }, finish_reason: null }]))
    if (p.ending === 'failed') {
      // OpenAI reports a failure mid-stream as an error object, then closes without [DONE].
      events.splice(half(events.length))
      events.push(
        `data: ${JSON.stringify({ error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } })}\n\n`,
      )
      return { kind: 'sse', events }
    }
    events.push(chunk([{ index: 0, delta: {}, finish_reason: finish }]))
    const includeUsage = (request as RequestShape | null)?.stream_options?.include_usage === true
    if (includeUsage) events.push(chunk([], { usage }))
    events.push('data: [DONE]\n\n')
    answer = { kind: 'sse', events }
  }
  return p.ending === 'aborted' ? aborted(answer) : answer
}

/** Answers like OpenAI's Responses API, with real `usage` in the JSON body or the final event. */
export function openAiResponsesAnswer(request: unknown, options: FakeAnswerOptions = {}): FakeAnswer {
  const p = plan('openai-responses', request, options)
  if (p.ending === 'rate-limited') return rateLimited('openai-responses', options)
  if (p.ending === 'failed' && !p.stream)
    return openAiError(500, 'The server had an error while processing your request.')
  const usage = {
    input_tokens: p.inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: p.outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: p.inputTokens + p.outputTokens,
  }
  const status = p.ending === 'incomplete' ? 'incomplete' : p.ending === 'failed' ? 'failed' : 'completed'
  const messageId = `msg_fake_${p.id}`
  const content = { type: 'output_text', text: text(p).join(''), annotations: [] }
  const response = (state: string, final: boolean) => ({
    id: `resp_fake_${p.id}`,
    object: 'response',
    created_at: 1_781_524_800,
    status: state,
    model: p.model,
    error:
      state === 'failed'
        ? { code: 'server_error', message: 'The model failed to generate a response.' }
        : null,
    incomplete_details: state === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    output: final
      ? [
          {
            type: 'message',
            id: messageId,
            status: state === 'completed' ? 'completed' : 'incomplete',
            role: 'assistant',
            content: [content],
          },
        ]
      : [],
    usage: final ? usage : null,
  })
  let answer: FakeAnswer
  if (!p.stream) answer = { kind: 'json', status: 200, body: response(status, true) }
  else {
    let n = 0
    const event = (type: string, fields: object) =>
      `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: n++, ...fields })}\n\n`
    const events = [
      event('response.created', { response: response('in_progress', false) }),
      event('response.in_progress', { response: response('in_progress', false) }),
      event('response.output_item.added', {
        output_index: 0,
        item: { type: 'message', id: messageId, status: 'in_progress', role: 'assistant', content: [] },
      }),
      ...text(p).map((delta) =>
        event('response.output_text.delta', { item_id: messageId, output_index: 0, content_index: 0, delta }),
      ),
    ]
    if (p.ending !== 'failed')
      events.push(
        event('response.output_text.done', {
          item_id: messageId,
          output_index: 0,
          content_index: 0,
          text: content.text,
        }),
      )
    events.push(event(`response.${status}`, { response: response(status, true) }))
    answer = { kind: 'sse', events }
  }
  return p.ending === 'aborted' ? aborted(answer) : answer
}

/** Answers like Anthropic's Messages API, with real `usage` in the JSON body or in message_start and message_delta. */
export function anthropicMessagesAnswer(request: unknown, options: FakeAnswerOptions = {}): FakeAnswer {
  const p = plan('anthropic-messages', request, options)
  if (p.ending === 'rate-limited') return rateLimited('anthropic-messages', options)
  if (p.ending === 'failed' && !p.stream) return anthropicError(529, 'overloaded_error', 'Overloaded')
  const stop = p.ending === 'incomplete' ? 'max_tokens' : 'end_turn'
  const id = `msg_fake_${p.id}`
  const message = { id, type: 'message', role: 'assistant', model: p.model, stop_sequence: null }
  let answer: FakeAnswer
  if (!p.stream) {
    const content = [{ type: 'text', text: text(p).join('') }]
    answer = {
      kind: 'json',
      status: 200,
      body: {
        ...message,
        content,
        stop_reason: stop,
        usage: { input_tokens: p.inputTokens, output_tokens: p.outputTokens },
      },
    }
  } else {
    const event = (type: string, fields: object) =>
      `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`
    const deltas = text(p).map((word) =>
      event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: word } }),
    )
    const events = [
      event('message_start', {
        message: {
          ...message,
          content: [],
          stop_reason: null,
          usage: { input_tokens: p.inputTokens, output_tokens: 1 },
        },
      }),
      event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ]
    if (p.ending === 'failed') {
      // Anthropic reports an overload mid-stream as an `error` event and closes.
      events.push(
        ...deltas.slice(0, half(deltas.length)),
        event('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }),
      )
      return { kind: 'sse', events }
    }
    events.push(
      ...deltas,
      event('content_block_stop', { index: 0 }),
      event('message_delta', {
        delta: { stop_reason: stop, stop_sequence: null },
        usage: { output_tokens: p.outputTokens },
      }),
      event('message_stop', {}),
    )
    answer = { kind: 'sse', events }
  }
  return p.ending === 'aborted' ? aborted(answer) : answer
}

/** The answer builder of each API. */
export const fakeAnswers: Record<FakeApi, (request: unknown, options?: FakeAnswerOptions) => FakeAnswer> = {
  'openai-chat': openAiChatAnswer,
  'openai-responses': openAiResponsesAnswer,
  'anthropic-messages': anthropicMessagesAnswer,
}
