import { createLimiter, type LimitRequest, type Usage, usageFromJson } from '@llm-limit/core'
import { calcPrice, extractUsage, findProvider, type Provider } from '@pydantic/genai-prices'
import { describe, expect, it } from 'vitest'

/** A seeded generator, so a failure can be replayed. */
function random(seed: number): (max: number) => number {
  let state = seed
  return (max) => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state % max
  }
}

type Family = 'openai-chat' | 'openai-responses' | 'anthropic' | 'google'
const MODELS: Record<Family, string[]> = {
  'openai-chat': ['gpt-4o', 'gpt-4.1-mini', 'o1-pro', 'gpt-6-sol', 'o4-mini'],
  'openai-responses': ['o3', 'o3-pro', 'gpt-5-pro', 'gpt-5.1', 'gpt-6-sol'],
  anthropic: ['claude-sonnet-4-5', 'claude-opus-4-1', 'claude-haiku-4-5', 'claude-opus-4-5'],
  google: ['gemini-2.5-pro', 'gemini-2.5-flash', 'gemini-3-pro-preview', 'gemini-2.5-flash-lite'],
}
const FAMILIES = Object.keys(MODELS) as Family[]

/** One call as the provider answers it: the request, the response with its usage, and the genai-prices flavour. */
interface Call {
  request: LimitRequest
  response: Record<string, unknown>
  provider: 'openai' | 'anthropic' | 'google'
  flavor: string
  model: string
}

function call(family: Family, model: string, next: (max: number) => number): Call {
  const base = { method: 'POST', headers: {}, ip: '127.0.0.1' }
  // Long prompts now and then, so the long-context tiers are billed too.
  const prompt = next(4) === 0 ? 200_000 + next(80_000) : 500 + next(20_000)
  const cached = next(2) ? next(prompt) : 0
  const written = next(2) ? next(prompt - cached) : 0
  const output = 1 + next(6000)
  const reasoning = next(output)
  switch (family) {
    case 'openai-chat':
      return {
        request: {
          ...base,
          path: '/v1/chat/completions',
          body: { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 },
        },
        response: {
          model,
          usage: {
            prompt_tokens: prompt,
            completion_tokens: output,
            prompt_tokens_details: { cached_tokens: cached, cache_write_tokens: written },
            completion_tokens_details: { reasoning_tokens: reasoning },
          },
        },
        provider: 'openai',
        flavor: 'chat',
        model,
      }
    case 'openai-responses':
      return {
        request: { ...base, path: '/v1/responses', body: { model, input: 'hi', max_output_tokens: 100 } },
        response: {
          object: 'response',
          model,
          usage: {
            input_tokens: prompt,
            input_tokens_details: { cached_tokens: cached, cache_write_tokens: written },
            output_tokens: output,
            output_tokens_details: { reasoning_tokens: reasoning },
          },
        },
        provider: 'openai',
        flavor: 'responses',
        model,
      }
    case 'anthropic': {
      // Anthropic's 1M-token context is retired: prompts stay under 200k.
      const fresh = 1 + next(150_000)
      const write1h = next(2) ? next(20_000) : 0
      const write5m = next(20_000)
      return {
        request: {
          ...base,
          path: '/v1/messages',
          body: { model, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] },
        },
        response: {
          type: 'message',
          model,
          usage: {
            input_tokens: fresh,
            cache_read_input_tokens: next(20_000),
            cache_creation_input_tokens: write5m + write1h,
            cache_creation: { ephemeral_5m_input_tokens: write5m, ephemeral_1h_input_tokens: write1h },
            output_tokens: output,
          },
        },
        provider: 'anthropic',
        flavor: 'default',
        model,
      }
    }
    case 'google':
      return {
        request: {
          ...base,
          path: `/v1beta/models/${model}:generateContent`,
          body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] },
        },
        response: {
          candidates: [{ content: { parts: [{ text: 'ok' }], role: 'model' } }],
          usageMetadata: {
            promptTokenCount: prompt,
            cachedContentTokenCount: cached,
            candidatesTokenCount: output,
            thoughtsTokenCount: reasoning,
          },
          modelVersion: model,
        },
        provider: 'google',
        flavor: 'default',
        model,
      }
  }
}

/** What the provider bills: genai-prices' published prices applied to the raw response, in USD. */
function billed({ provider, flavor, response, model }: Call): number {
  const found = findProvider({ providerId: provider }) as Provider
  const price = calcPrice(extractUsage(found, response, flavor).usage, model, { provider: found })
  if (price === null) throw new Error(`no published price for ${model}`)
  return price.total_price
}

async function ledger(read: (response: Record<string, unknown>) => Usage | undefined) {
  const next = random(2026)
  let charged = 0
  const limiter = createLimiter({
    rules: [{ name: 'dollars', by: 'global', costUsd: 1_000_000, per: 'day' }],
    events: { onCommit: ({ costMicroUsd }) => (charged += costMicroUsd) },
  })
  let bill = 0
  const calls = 400
  for (let i = 0; i < calls; i++) {
    const family = FAMILIES[i % FAMILIES.length]
    const models = MODELS[family]
    const one = call(family, models[next(models.length)], next)
    const decision = await limiter.check(one.request)
    expect(decision.allowed, decision.message).toBe(true)
    await decision.commit(read(one.response))
    bill += billed(one)
  }
  return { charged, bill, calls }
}

describe('the ledger: charged ≥ billed, for all three families with caching, reasoning and long prompts', () => {
  it('400 calls through createLimiter and decision.commit with the provider usage objects', async () => {
    const { charged, bill, calls } = await ledger(usageFromJson)
    const billedMicro = bill * 1e6
    // Never below the bill; above it by at most the one micro-dollar each call is rounded up.
    expect(charged).toBeGreaterThanOrEqual(Math.floor(billedMicro))
    expect(charged - billedMicro).toBeLessThanOrEqual(calls)
    expect(billedMicro).toBeGreaterThan(1e6)
  })

  it('negative control: reading only the headline token counts undercharges the same calls', async () => {
    const headline = (response: Record<string, unknown>): Usage | undefined => {
      const usage = usageFromJson(response)
      return (
        usage && {
          inputTokens: usage.inputTokens,
          outputTokens: usage.outputTokens - (usage.reasoningTokens ?? 0),
        }
      )
    }
    const { charged, bill } = await ledger(headline)
    expect(charged).toBeLessThan(bill * 1e6)
  })
})
