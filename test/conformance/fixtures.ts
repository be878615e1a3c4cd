import type { Decision } from '@llm-limit/core'

/** Usage every fake chat completion reports, unless the request asks for other figures. */
export const USAGE = { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 }

/** What the shared handlers receive and return, whatever the framework. */
export interface HandlerInput {
  path: string
  body: unknown
  decision: Decision | undefined
}

/** A framework-free response description the per-framework apps turn into a real response. */
export type HandlerOutput =
  | { kind: 'json'; status: number; body: unknown }
  | { kind: 'sse'; events: string[] }
  | { kind: 'text'; status: number; text: string }

type Body = {
  model?: string
  stream?: boolean
  x_usage?: { prompt_tokens: number; completion_tokens: number }
}

/** The routes every conformance app serves, with identical behaviour on every framework. */
export async function handle({ path, body, decision }: HandlerInput): Promise<HandlerOutput> {
  const request = (body ?? {}) as Body
  const usage = request.x_usage ? { ...request.x_usage, total_tokens: 0 } : USAGE
  switch (path) {
    case '/v1/chat/completions': {
      if (request.stream) {
        const chunk = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`
        return {
          kind: 'sse',
          events: [
            chunk({
              id: 'c1',
              object: 'chat.completion.chunk',
              choices: [{ index: 0, delta: { content: 'Hello there' } }],
            }),
            chunk({ id: 'c1', object: 'chat.completion.chunk', choices: [], usage }),
            'data: [DONE]\n\n',
          ],
        }
      }
      return {
        kind: 'json',
        status: 200,
        body: {
          id: 'c1',
          object: 'chat.completion',
          model: request.model,
          choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' } }],
          usage,
        },
      }
    }
    case '/v1/messages':
      return {
        kind: 'json',
        status: 200,
        body: {
          id: 'msg_1',
          type: 'message',
          model: request.model,
          content: [{ type: 'text', text: 'Hi' }],
          usage: { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens },
        },
      }
    case '/v1/embeddings':
      return {
        kind: 'json',
        status: 200,
        body: {
          object: 'list',
          data: [],
          usage: { prompt_tokens: usage.prompt_tokens, total_tokens: usage.prompt_tokens },
        },
      }
    case '/upstream-error':
      return { kind: 'json', status: 502, body: { error: { message: 'upstream failed' } } }
    case '/commit':
      await decision?.commit({ inputTokens: 1, outputTokens: 1 })
      return { kind: 'json', status: 200, body: { committed: true } }
    case '/decision':
      return {
        kind: 'json',
        status: 200,
        body: {
          allowed: decision?.allowed,
          wouldDeny: decision?.wouldDeny,
          reason: decision?.reason,
          model: decision?.model,
          rules: decision?.rules.map((rule) => rule.name),
          estimate: decision?.estimate,
          bodyModel: (body as Body | undefined)?.model ?? null,
        },
      }
    default:
      return { kind: 'text', status: 200, text: 'pong' }
  }
}
