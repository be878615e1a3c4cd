import { createEstimator, createUsageSniffer } from '@llm-limit/core'
import { describe, expect, it } from 'vitest'

const sse = (events: Record<string, unknown>[]) =>
  events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('')

describe('a streamed answer is priced like the same answer in JSON', () => {
  it("Anthropic: message_start's cache reads and 5-minute / 1-hour writes survive to the settlement", () => {
    const stream = sse([
      {
        type: 'message_start',
        message: {
          type: 'message',
          model: 'claude-sonnet-4-5-20250929',
          usage: {
            input_tokens: 50,
            cache_creation_input_tokens: 3000,
            cache_read_input_tokens: 10_000,
            cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
            output_tokens: 1,
          },
        },
      },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'ok' } },
      { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 500 } },
      { type: 'message_stop' },
    ])
    const sniffer = createUsageSniffer('text/event-stream')
    sniffer.write(stream)
    const usage = sniffer.end()
    expect(usage).toMatchObject({
      inputTokens: 13_050,
      cachedInputTokens: 10_000,
      cacheWriteTokens: 3000,
      cacheWrite1hTokens: 2000,
      outputTokens: 500,
    })
    // 50 × 3 + 1000 × 3.75 + 2000 × 6 + 10000 × 0.3 + 500 × 15, as billed (docs.anthropic.com pricing).
    expect(createEstimator().cost('claude-sonnet-4-5', usage ?? { inputTokens: 0, outputTokens: 0 })).toBe(
      26_400,
    )
  })

  it('OpenAI chat: the final usage chunk keeps its cache and reasoning details', () => {
    const chunk = {
      object: 'chat.completion.chunk',
      model: 'gpt-6-sol',
      choices: [],
      usage: {
        prompt_tokens: 12_000,
        completion_tokens: 1500,
        prompt_tokens_details: { cached_tokens: 8000, cache_write_tokens: 3000 },
        completion_tokens_details: { reasoning_tokens: 1000 },
      },
    }
    const sniffer = createUsageSniffer('text/event-stream')
    sniffer.write(`data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`)
    const usage = sniffer.end()
    expect(usage).toMatchObject({ cachedInputTokens: 8000, cacheWriteTokens: 3000, reasoningTokens: 1000 })
    expect(createEstimator().cost('gpt-6-sol', usage ?? { inputTokens: 0, outputTokens: 0 })).toBe(26_100)
  })
})
