import type { Rule } from '@llm-limit/core'

/** Layered limits of the demos: small enough to reach a 429 by hand. */
export const demoRules: Rule[] = [
  { name: 'ip-burst', by: 'ip', requests: 5, per: '10s' },
  { name: 'ip-tpm', by: 'ip', tokens: 20_000, per: '1m' },
  { name: 'key-daily-usd', by: 'apiKey', costUsd: 1, per: 'day' },
  { name: 'ip-parallel', by: 'ip', concurrent: 4 },
]

/** Minimal shape of a chat request the fake upstream answers. */
export interface ChatBody {
  model?: string
  stream?: boolean
  max_tokens?: number
  max_completion_tokens?: number
  stream_options?: { include_usage?: boolean }
}

/** A fake upstream answer: a JSON body with its status, or server-sent events. */
export type FakeAnswer = { kind: 'json'; status: number; body: object } | { kind: 'sse'; events: string[] }

/** An error in OpenAI's shape, which OpenAI-compatible clients parse (never an HTML page). */
export function openAiError(
  status: number,
  message: string,
  code: string | null,
  type = 'invalid_request_error',
) {
  return { kind: 'json', status, body: { error: { message, type, param: null, code } } } satisfies FakeAnswer
}

/** The JSON 404 of every demo, for a route it does not serve; `served` names the routes it does. */
export function unknownRoute(method: string, path: string, served = 'POST /v1/chat/completions') {
  return openAiError(404, `Unknown route ${method} ${path}; this proxy serves ${served}.`, 'unknown_url')
}

const WORDS =
  'Rate limits keep one greedy client from spending everyone else’s budget in a single afternoon.'.split(' ')

/**
 * Answers like OpenAI's chat completions endpoint, framework-free, with real `usage`: prompt tokens
 * from llm-limit's estimate, completion tokens from the words sent; streaming included.
 */
export function fakeChatCompletion(request: unknown, promptTokens: number): FakeAnswer {
  // llmLimit refuses bodies of the wrong shape; one that never arrived (no JSON content type) ends here.
  if (typeof request !== 'object' || request === null || Array.isArray(request))
    return openAiError(
      400,
      'Send the chat completion as a JSON object with Content-Type: application/json.',
      'invalid_request',
    )
  const body = request as ChatBody
  const model = body.model ?? 'gpt-4o-mini'
  const budget = body.max_completion_tokens ?? body.max_tokens ?? 16
  const words = WORDS.slice(0, Math.max(1, Math.min(WORDS.length, budget)))
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: words.length,
    total_tokens: promptTokens + words.length,
  }
  const id = `chatcmpl-demo-${Date.now().toString(36)}`
  const created = Math.floor(Date.now() / 1000)
  if (!body.stream) {
    const choices = [
      { index: 0, message: { role: 'assistant', content: words.join(' ') }, finish_reason: 'stop' },
    ]
    return {
      kind: 'json',
      status: 200,
      body: { id, object: 'chat.completion', created, model, choices, usage },
    }
  }
  const chunk = (choices: unknown[], extra: object = {}) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`
  const events = words.map((word, index) =>
    chunk([{ index: 0, delta: { content: index === 0 ? word : ` ${word}` }, finish_reason: null }]),
  )
  events.push(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]))
  if (body.stream_options?.include_usage) events.push(chunk([], { usage }))
  events.push('data: [DONE]\n\n')
  return { kind: 'sse', events }
}

/** An error in Anthropic's shape, which the Anthropic SDK parses. */
export function anthropicError(status: number, type: string, message: string) {
  return { kind: 'json', status, body: { type: 'error', error: { type, message } } } satisfies FakeAnswer
}

/** Answers like Anthropic's Messages API (not streamed), with real `usage`. */
export function fakeAnthropicMessage(request: unknown, inputTokens: number): FakeAnswer {
  if (typeof request !== 'object' || request === null || Array.isArray(request))
    return anthropicError(
      400,
      'invalid_request_error',
      'Send the message as a JSON object with Content-Type: application/json.',
    )
  const body = request as ChatBody
  if (body.stream)
    return anthropicError(
      400,
      'invalid_request_error',
      'The offline fake upstream does not stream Messages; set ANTHROPIC_API_KEY to forward.',
    )
  const words = WORDS.slice(0, Math.max(1, Math.min(WORDS.length, body.max_tokens ?? 16)))
  return {
    kind: 'json',
    status: 200,
    body: {
      id: `msg_demo_${Date.now().toString(36)}`,
      type: 'message',
      role: 'assistant',
      model: body.model ?? 'claude-3-5-haiku-latest',
      content: [{ type: 'text', text: words.join(' ') }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: words.length },
    },
  }
}
