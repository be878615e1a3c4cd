import type { Usage } from '../types.js'

/** Prices in USD per 1M tokens: input, output, and cached input (billed at input when absent). */
export interface Price {
  /** USD per 1M input tokens. */
  input: number
  /** USD per 1M output tokens. */
  output: number
  /** USD per 1M cached input tokens. @default input */
  cachedInput?: number
}

/** Prices by model name (exact, or the longest matching prefix). */
export type PriceTable = Record<string, Price>

/** Built-in list prices (USD per 1M tokens) of common OpenAI, Anthropic and Google models; override with `prices`. */
export const DEFAULT_PRICES: Readonly<PriceTable> = Object.freeze({
  'gpt-5': { input: 1.25, cachedInput: 0.125, output: 10 },
  'gpt-5-mini': { input: 0.25, cachedInput: 0.025, output: 2 },
  'gpt-5-nano': { input: 0.05, cachedInput: 0.005, output: 0.4 },
  'gpt-4.1': { input: 2, cachedInput: 0.5, output: 8 },
  'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, cachedInput: 0.025, output: 0.4 },
  'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
  'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
  'chatgpt-4o-latest': { input: 5, output: 15 },
  'gpt-4-turbo': { input: 10, output: 30 },
  'gpt-4': { input: 30, output: 60 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
  o1: { input: 15, cachedInput: 7.5, output: 60 },
  'o1-mini': { input: 1.1, cachedInput: 0.55, output: 4.4 },
  o3: { input: 2, cachedInput: 0.5, output: 8 },
  'o3-mini': { input: 1.1, cachedInput: 0.55, output: 4.4 },
  'o4-mini': { input: 1.1, cachedInput: 0.275, output: 4.4 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
  'text-embedding-ada-002': { input: 0.1, output: 0 },
  'claude-opus-4': { input: 15, cachedInput: 1.5, output: 75 },
  'claude-sonnet-4': { input: 3, cachedInput: 0.3, output: 15 },
  'claude-3-7-sonnet': { input: 3, cachedInput: 0.3, output: 15 },
  'claude-3-5-sonnet': { input: 3, cachedInput: 0.3, output: 15 },
  'claude-haiku-4-5': { input: 1, cachedInput: 0.1, output: 5 },
  'claude-3-5-haiku': { input: 0.8, cachedInput: 0.08, output: 4 },
  'claude-3-haiku': { input: 0.25, cachedInput: 0.03, output: 1.25 },
  'gemini-2.5-pro': { input: 1.25, cachedInput: 0.31, output: 10 },
  'gemini-2.5-flash': { input: 0.3, cachedInput: 0.075, output: 2.5 },
  'gemini-2.0-flash': { input: 0.1, cachedInput: 0.025, output: 0.4 },
  'gemini-1.5-pro': { input: 1.25, output: 5 },
  'gemini-1.5-flash': { input: 0.075, output: 0.3 },
})

/** A price for models that are in no table: priced like a mid-range model so budgets still bite. */
export const FALLBACK_PRICE: Readonly<Price> = Object.freeze({ input: 2.5, output: 10 })

/** The price of `model`: an exact entry, else the longest prefix (so `gpt-4o-2024-08-06` finds `gpt-4o`, and `gpt-4o-mini-…` finds `gpt-4o-mini`). */
export function resolvePrice(model: string | undefined, table: Readonly<PriceTable> = DEFAULT_PRICES): Price {
  if (model === undefined) return FALLBACK_PRICE
  const exact = table[model]
  if (exact) return exact
  let best: string | undefined
  for (const name of Object.keys(table)) {
    if (model.startsWith(name) && (best === undefined || name.length > best.length)) best = name
  }
  return best === undefined ? FALLBACK_PRICE : table[best]
}

/** $1 per 1M tokens is 1 micro-USD per token; prices are held as integer pico-USD per token. */
const PICO_PER_MICRO = 1_000_000

function pico(usdPerMillion: number): number {
  return Math.round(usdPerMillion * PICO_PER_MICRO)
}

/**
 * Cost of `usage` at `price` in whole micro-USD, computed with integers only and rounded up once,
 * so no float error ever adds or loses a micro-dollar.
 */
export function costMicroUsd(usage: Usage, price: Price): number {
  const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens)
  const terms: [number, number][] = [
    [usage.inputTokens - cached, pico(price.input)],
    [cached, pico(price.cachedInput ?? price.input)],
    [usage.outputTokens, pico(price.output)],
  ]
  let picoUsd = 0
  for (const [tokens, rate] of terms) picoUsd += tokens * rate
  if (picoUsd <= Number.MAX_SAFE_INTEGER) return Math.ceil(picoUsd / PICO_PER_MICRO)
  // Beyond 2^53 pico-USD (about $9,000 in one call) doubles lose units; BigInt stays exact.
  let big = 0n
  for (const [tokens, rate] of terms) big += BigInt(tokens) * BigInt(rate)
  const micro = BigInt(PICO_PER_MICRO)
  return Number((big + micro - 1n) / micro)
}
