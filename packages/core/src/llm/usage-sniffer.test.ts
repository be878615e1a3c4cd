import { describe, expect, it } from 'vitest'
import { createUsageSniffer } from './usage-sniffer.js'

const sse = (...events: (object | string)[]) =>
  events.map((event) => `data: ${typeof event === 'string' ? event : JSON.stringify(event)}\n\n`).join('')

function sniff(body: string, step = 5) {
  const sniffer = createUsageSniffer('text/event-stream', { countText: (text) => text.split(' ').length - 1 })
  for (let i = 0; i < body.length; i += step) sniffer.write(body.slice(i, i + step))
  return sniffer
}

describe('SSE usage', () => {
  it.each(['completed', 'incomplete', 'failed'])(
    'Responses response.%s carries the usage that counts',
    (end) => {
      const sniffer = sniff(
        sse(
          { type: 'response.output_text.delta', delta: ' a' },
          {
            type: `response.${end}`,
            response: { model: 'gpt-4o-2024-08-06', usage: { input_tokens: 9, output_tokens: 4 } },
          },
        ),
      )
      expect(sniffer.end()).toEqual({ inputTokens: 9, outputTokens: 4, model: 'gpt-4o-2024-08-06' })
      expect(sniffer.cut()).toBe(false)
    },
  )

  it('an explicit zero from the provider is kept', () => {
    const sniffer = sniff(
      sse(
        { choices: [{ delta: { content: ' a b' } }] },
        { choices: [], usage: { prompt_tokens: 0, completion_tokens: 0 } },
        '[DONE]',
      ),
    )
    expect(sniffer.end()).toEqual({ inputTokens: 0, outputTokens: 0 })
  })

  it('Anthropic: message_start input plus message_delta output', () => {
    const sniffer = sniff(
      sse(
        {
          type: 'message_start',
          message: { model: 'claude-3-5-haiku', usage: { input_tokens: 30, output_tokens: 1 } },
        },
        { type: 'content_block_delta', delta: { type: 'text_delta', text: ' hi' } },
        { type: 'message_delta', usage: { output_tokens: 12 } },
        { type: 'message_stop' },
      ),
    )
    expect(sniffer.end()).toEqual({ inputTokens: 30, outputTokens: 12, model: 'claude-3-5-haiku' })
  })

  it('a stream without usage reports none, and is not cut when it closed properly', () => {
    const sniffer = sniff(sse({ choices: [{ delta: { content: ' a' } }] }, '[DONE]'))
    expect(sniffer.end()).toBeUndefined()
    expect(sniffer.cut()).toBe(false)
  })
})

describe('what a cut stream streamed', () => {
  it('counts reasoning, refusals, tool-call arguments and Anthropic thinking and input_json deltas', () => {
    const sniffer = sniff(
      sse(
        { choices: [{ delta: { reasoning_content: ' r1 r2' } }] },
        { choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: ' a1 a2 a3' } }] } }] },
        { choices: [{ delta: { refusal: ' no' } }] },
        { type: 'content_block_delta', delta: { type: 'thinking_delta', thinking: ' t1' } },
        { type: 'content_block_delta', delta: { type: 'input_json_delta', partial_json: ' j1 j2' } },
        { type: 'response.function_call_arguments.delta', delta: ' f1' },
        { type: 'response.reasoning_summary_text.delta', delta: ' s1' },
      ),
    )
    expect(sniffer.cut()).toBe(true)
    expect(sniffer.streamed()).toEqual({ inputTokens: undefined, outputTokens: 11 })
  })

  it('a delta counts at least one token even when the counter says less', () => {
    const sniffer = createUsageSniffer('text/event-stream', { countText: () => 0 })
    sniffer.write(sse({ choices: [{ delta: { content: 'x' } }] }, { choices: [{ delta: { content: 'y' } }] }))
    expect(sniffer.streamed().outputTokens).toBe(2)
  })

  it('input the provider reported (even zero) is kept for a cut Anthropic stream', () => {
    const sniffer = sniff(
      sse({ type: 'message_start', message: { usage: { input_tokens: 0, output_tokens: 0 } } }),
    )
    expect(sniffer.streamed()).toEqual({ inputTokens: 0, outputTokens: 0 })
  })
})
