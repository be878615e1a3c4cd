import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

/** The catalog version the published prices below were checked against. */
export const CATALOG_VERSION = `@pydantic/genai-prices@${
  (
    JSON.parse(
      readFileSync(
        join(dirname(createRequire(import.meta.url).resolve('@pydantic/genai-prices')), '..', 'package.json'),
        'utf8',
      ),
    ) as { version: string }
  ).version
}`

const OPENAI = 'https://platform.openai.com/docs/pricing'
const ANTHROPIC = 'https://docs.anthropic.com/en/docs/about-claude/pricing'
const GOOGLE = 'https://ai.google.dev/gemini-api/docs/pricing'

/** A published price: USD per 1M tokens, and where it is published. */
export type Published = readonly [usdPerMillion: number, source: string]

/** One real provider response, the published prices that bill it, and the bill worked out by hand. */
export interface UsageFixture {
  name: string
  /** genai-prices provider id and extractor flavour, for the independent cross-check. */
  provider: 'openai' | 'anthropic' | 'google'
  flavor: string
  model: string
  response: Record<string, unknown>
  /** Every price the bill uses, each with its source. */
  prices: Record<string, Published>
  /** The bill in micro-USD, worked out from `prices` by hand (the arithmetic is in `bill`). */
  expectedMicroUsd: number
  bill: string
  /** What a naive reading (whole prompt at the input price less cache reads, output as reported, base tier) charges. */
  naiveMicroUsd: number
}

/** Real usage objects as the providers return them today, with cache reads and writes, reasoning and long prompts. */
export const FIXTURES: UsageFixture[] = [
  {
    name: 'OpenAI chat, gpt-4o, cached prompt (the prompt-caching guide example)',
    provider: 'openai',
    flavor: 'chat',
    model: 'gpt-4o',
    response: {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      model: 'gpt-4o-2024-08-06',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: 2006,
        completion_tokens: 300,
        total_tokens: 2306,
        prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
      },
    },
    prices: { input: [2.5, OPENAI], cachedInput: [1.25, OPENAI], output: [10, OPENAI] },
    bill: '86 × 2.5 + 1920 × 1.25 + 300 × 10',
    expectedMicroUsd: 5615,
    naiveMicroUsd: 5615,
  },
  {
    name: 'OpenAI chat, gpt-6-sol, cache reads, cache writes and reasoning',
    provider: 'openai',
    flavor: 'chat',
    model: 'gpt-6-sol',
    response: {
      object: 'chat.completion',
      model: 'gpt-6-sol',
      usage: {
        prompt_tokens: 12_000,
        completion_tokens: 1500,
        total_tokens: 13_500,
        prompt_tokens_details: { cached_tokens: 8000, cache_write_tokens: 3000 },
        completion_tokens_details: { reasoning_tokens: 1000 },
      },
    },
    prices: {
      input: [2, OPENAI],
      cachedInput: [0.2, OPENAI],
      cacheWrite: [2.5, OPENAI],
      output: [10, OPENAI],
    },
    bill: '1000 × 2 + 8000 × 0.2 + 3000 × 2.5 + 1500 × 10',
    expectedMicroUsd: 26_100,
    naiveMicroUsd: 4000 * 2 + 8000 * 0.2 + 1500 * 10,
  },
  {
    name: 'OpenAI Responses, gpt-6-sol, a 300k prompt (long-context tier above 272k) with cache reads and writes',
    provider: 'openai',
    flavor: 'responses',
    model: 'gpt-6-sol',
    response: {
      object: 'response',
      model: 'gpt-6-sol',
      status: 'completed',
      usage: {
        input_tokens: 300_000,
        input_tokens_details: { cached_tokens: 200_000, cache_write_tokens: 50_000 },
        output_tokens: 2000,
        output_tokens_details: { reasoning_tokens: 1200 },
        total_tokens: 302_000,
      },
    },
    prices: {
      'input above 272k': [4, OPENAI],
      'cachedInput above 272k': [0.4, OPENAI],
      'cacheWrite above 272k': [5, OPENAI],
      'output above 272k': [15, OPENAI],
    },
    bill: '50000 × 4 + 200000 × 0.4 + 50000 × 5 + 2000 × 15',
    expectedMicroUsd: 560_000,
    naiveMicroUsd: 100_000 * 2 + 200_000 * 0.2 + 2000 * 10,
  },
  {
    name: 'OpenAI Responses, o3, cached prompt and reasoning',
    provider: 'openai',
    flavor: 'responses',
    model: 'o3',
    response: {
      object: 'response',
      model: 'o3-2025-04-16',
      usage: {
        input_tokens: 5000,
        input_tokens_details: { cached_tokens: 4096 },
        output_tokens: 2000,
        output_tokens_details: { reasoning_tokens: 1500 },
        total_tokens: 7000,
      },
    },
    prices: { input: [2, OPENAI], cachedInput: [0.5, OPENAI], output: [8, OPENAI] },
    bill: '904 × 2 + 4096 × 0.5 + 2000 × 8',
    expectedMicroUsd: 19_856,
    naiveMicroUsd: 19_856,
  },
  {
    name: 'OpenAI Responses, o3-pro (priced as itself, not as o3)',
    provider: 'openai',
    flavor: 'responses',
    model: 'o3-pro',
    response: {
      object: 'response',
      model: 'o3-pro-2025-06-10',
      usage: {
        input_tokens: 1200,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 3000,
        output_tokens_details: { reasoning_tokens: 2500 },
        total_tokens: 4200,
      },
    },
    prices: { input: [20, OPENAI], output: [80, OPENAI] },
    bill: '1200 × 20 + 3000 × 80',
    expectedMicroUsd: 264_000,
    // The former table's prefix match priced o3-pro as o3: 1200 × 2 + 3000 × 8.
    naiveMicroUsd: 26_400,
  },
  {
    name: 'OpenAI Responses, gpt-5-pro',
    provider: 'openai',
    flavor: 'responses',
    model: 'gpt-5-pro',
    response: {
      object: 'response',
      model: 'gpt-5-pro-2025-10-06',
      usage: {
        input_tokens: 2000,
        output_tokens: 5000,
        output_tokens_details: { reasoning_tokens: 4000 },
        total_tokens: 7000,
      },
    },
    prices: { input: [15, OPENAI], output: [120, OPENAI] },
    bill: '2000 × 15 + 5000 × 120',
    expectedMicroUsd: 630_000,
    // gpt-5's price by prefix: 2000 × 1.25 + 5000 × 10.
    naiveMicroUsd: 52_500,
  },
  {
    name: 'OpenAI chat, o1-pro',
    provider: 'openai',
    flavor: 'chat',
    model: 'o1-pro',
    response: {
      object: 'chat.completion',
      model: 'o1-pro',
      usage: {
        prompt_tokens: 1000,
        completion_tokens: 2000,
        total_tokens: 3000,
        completion_tokens_details: { reasoning_tokens: 1500 },
      },
    },
    prices: { input: [150, OPENAI], output: [600, OPENAI] },
    bill: '1000 × 150 + 2000 × 600',
    expectedMicroUsd: 1_350_000,
    // o1's price by prefix: 1000 × 15 + 2000 × 60.
    naiveMicroUsd: 135_000,
  },
  {
    name: 'Anthropic, claude-sonnet-4-5, cache reads, 5-minute and 1-hour cache writes',
    provider: 'anthropic',
    flavor: 'default',
    model: 'claude-sonnet-4-5',
    response: {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5-20250929',
      content: [{ type: 'text', text: 'ok' }],
      stop_reason: 'end_turn',
      usage: {
        input_tokens: 50,
        cache_creation_input_tokens: 3000,
        cache_read_input_tokens: 10_000,
        cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
        output_tokens: 500,
        service_tier: 'standard',
      },
    },
    prices: {
      input: [3, ANTHROPIC],
      '5m cache write': [3.75, ANTHROPIC],
      '1h cache write': [6, ANTHROPIC],
      'cache read': [0.3, ANTHROPIC],
      output: [15, ANTHROPIC],
    },
    bill: '50 × 3 + 1000 × 3.75 + 2000 × 6 + 10000 × 0.3 + 500 × 15',
    expectedMicroUsd: 26_400,
    naiveMicroUsd: 3050 * 3 + 10_000 * 0.3 + 500 * 15,
  },
  {
    name: 'Anthropic, claude-opus-4-1, a 1-hour cache write',
    provider: 'anthropic',
    flavor: 'default',
    model: 'claude-opus-4-1',
    response: {
      type: 'message',
      model: 'claude-opus-4-1-20250805',
      usage: {
        input_tokens: 20,
        cache_creation_input_tokens: 4000,
        cache_read_input_tokens: 0,
        cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 4000 },
        output_tokens: 100,
      },
    },
    prices: { input: [15, ANTHROPIC], '1h cache write': [30, ANTHROPIC], output: [75, ANTHROPIC] },
    bill: '20 × 15 + 4000 × 30 + 100 × 75',
    expectedMicroUsd: 127_800,
    naiveMicroUsd: 4020 * 15 + 100 * 75,
  },
  {
    name: 'Gemini, gemini-2.5-pro, a 250k prompt (above 200k) with thoughts',
    provider: 'google',
    flavor: 'default',
    model: 'gemini-2.5-pro',
    response: {
      candidates: [{ content: { parts: [{ text: 'ok' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
      usageMetadata: {
        promptTokenCount: 250_000,
        candidatesTokenCount: 1000,
        totalTokenCount: 255_000,
        thoughtsTokenCount: 4000,
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: 250_000 }],
      },
      modelVersion: 'gemini-2.5-pro',
      responseId: 'r1',
    },
    prices: { 'input above 200k': [2.5, GOOGLE], 'output above 200k (thinking included)': [15, GOOGLE] },
    bill: '250000 × 2.5 + (1000 + 4000) × 15',
    expectedMicroUsd: 700_000,
    // Base tier, thoughts ignored: 250000 × 1.25 + 1000 × 10.
    naiveMicroUsd: 322_500,
  },
  {
    name: 'Gemini, gemini-2.5-pro, a short prompt with thoughts',
    provider: 'google',
    flavor: 'default',
    model: 'gemini-2.5-pro',
    response: {
      candidates: [{ content: { parts: [{ text: 'ok' }], role: 'model' }, finishReason: 'STOP' }],
      usageMetadata: {
        promptTokenCount: 10_000,
        candidatesTokenCount: 500,
        totalTokenCount: 13_500,
        thoughtsTokenCount: 3000,
      },
      modelVersion: 'gemini-2.5-pro',
    },
    prices: { input: [1.25, GOOGLE], 'output (thinking included)': [10, GOOGLE] },
    bill: '10000 × 1.25 + (500 + 3000) × 10',
    expectedMicroUsd: 47_500,
    naiveMicroUsd: 17_500,
  },
  {
    name: 'Gemini, gemini-2.5-flash, cached content and thoughts',
    provider: 'google',
    flavor: 'default',
    model: 'gemini-2.5-flash',
    response: {
      candidates: [{ content: { parts: [{ text: 'ok' }], role: 'model' }, finishReason: 'STOP' }],
      usageMetadata: {
        promptTokenCount: 120_000,
        cachedContentTokenCount: 100_000,
        candidatesTokenCount: 800,
        thoughtsTokenCount: 1200,
        totalTokenCount: 122_000,
      },
      modelVersion: 'gemini-2.5-flash',
    },
    prices: {
      input: [0.3, GOOGLE],
      'cached input': [0.03, GOOGLE],
      'output (thinking included)': [2.5, GOOGLE],
    },
    bill: '20000 × 0.3 + 100000 × 0.03 + (800 + 1200) × 2.5',
    expectedMicroUsd: 14_000,
    naiveMicroUsd: 120_000 * 0.3 + 800 * 2.5,
  },
]
