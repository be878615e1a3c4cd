import type { Usage } from '../types.js'

/** Prices that change once the prompt is longer than `above` tokens; fields left out keep the base price. */
export interface PriceTier {
  /** The tier applies to a call whose prompt (`inputTokens`, cache reads and writes included) exceeds this. */
  above: number
  /** USD per 1M input tokens in this tier. */
  input?: number
  /** USD per 1M output tokens in this tier. */
  output?: number
  /** USD per 1M cached input tokens in this tier. */
  cachedInput?: number
  /** USD per 1M cache-write tokens in this tier. */
  cacheWrite?: number
  /** USD per 1M one-hour cache-write tokens in this tier. */
  cacheWrite1h?: number
  /** USD per 1M reasoning tokens in this tier. */
  reasoning?: number
}

/** Prices in USD per 1M tokens, one per billed dimension; a missing dimension is billed like its parent. */
export interface Price {
  /** USD per 1M input tokens. */
  input: number
  /** USD per 1M output tokens. */
  output: number
  /** USD per 1M cached input tokens (cache reads). @default input */
  cachedInput?: number
  /** USD per 1M tokens written to the cache (Anthropic's 5-minute writes, OpenAI's `cache_write_tokens`). @default input */
  cacheWrite?: number
  /** USD per 1M tokens written to the 1-hour cache (Anthropic). @default cacheWrite */
  cacheWrite1h?: number
  /** USD per 1M reasoning / thinking tokens. @default output */
  reasoning?: number
  /** Long-context tiers by prompt length, e.g. Gemini 2.5 Pro above 200k tokens. @default [] */
  tiers?: readonly PriceTier[]
}

/** Prices by model name (exact, or the longest matching prefix). */
export type PriceTable = Record<string, Price>

/**
 * The price of a model for unknown models under `unknownModel: 'fallback'`: Claude Opus 4.1's list
 * price, dearer than every mainstream model but the -pro ones, so an unpriced model is never cheap.
 */
export const FALLBACK_PRICE: Readonly<Price> = Object.freeze({ input: 15, output: 75 })

/** The entry of `model` in `table`: an exact entry, else the longest prefix (`gpt-4o-2024-08-06` finds `gpt-4o`). */
export function resolvePrice(model: string | undefined, table: Readonly<PriceTable>): Price | undefined {
  if (model === undefined) return undefined
  const exact = table[model]
  if (exact) return exact
  let best: string | undefined
  for (const name of Object.keys(table)) {
    if (model.startsWith(name) && (best === undefined || name.length > best.length)) best = name
  }
  return best === undefined ? undefined : table[best]
}

/** One price band of a compiled price, in integer pico-USD per token. */
interface Rates {
  readonly input: number
  readonly output: number
  readonly cachedInput: number
  readonly cacheWrite: number
  readonly cacheWrite1h: number
  readonly reasoning: number
}

/** A price compiled once per model: integer pico-USD per token, tiers sorted by threshold. */
export interface CompiledPrice {
  /** The band of prompts up to the first tier. */
  readonly base: Rates
  /** Tiers, lowest threshold first. */
  readonly tiers: readonly (Rates & { readonly above: number })[]
}

/** $1 per 1M tokens is 1 micro-USD per token; prices are held as integer pico-USD per token. */
const PICO_PER_MICRO = 1_000_000

/** USD per 1M tokens as pico-USD per token, rounded up when a price has more than 6 decimals. */
function pico(usdPerMillion: number): number {
  const scaled = usdPerMillion * PICO_PER_MICRO
  const rounded = Math.round(scaled)
  // 0.3 × 1e6 is 300000.00000000006 in doubles: that is float noise, not a finer price.
  return Math.abs(scaled - rounded) < 1e-6 ? rounded : Math.ceil(scaled)
}

/** A band's rates: its own prices over the base ones, then each missing dimension billed like its parent. */
function rates(tier: Omit<PriceTier, 'above'>, base: Price): Rates {
  const input = pico(tier.input ?? base.input)
  const output = pico(tier.output ?? base.output)
  const given = (value: number | undefined, fallback: number) =>
    value === undefined ? fallback : pico(value)
  const cacheWrite = given(tier.cacheWrite ?? base.cacheWrite, input)
  return {
    input,
    output,
    cachedInput: given(tier.cachedInput ?? base.cachedInput, input),
    cacheWrite,
    cacheWrite1h: given(tier.cacheWrite1h ?? base.cacheWrite1h, cacheWrite),
    reasoning: given(tier.reasoning ?? base.reasoning, output),
  }
}

/** Compiles a price into integer rates; done once per model, so pricing a call converts nothing. */
export function compilePrice(price: Price): CompiledPrice {
  const tiers = [...(price.tiers ?? [])]
    .sort((a, b) => a.above - b.above)
    .map((tier) => ({ above: tier.above, ...rates(tier, price) }))
  return { base: rates({}, price), tiers }
}

/**
 * Cost of `usage` at `price` in whole micro-USD, computed with integers only and rounded up once,
 * so no float error ever adds or loses a micro-dollar. The tier is the one the prompt lands in.
 */
export function costMicroUsd(usage: Usage, price: Price | CompiledPrice): number {
  const compiled = 'base' in price ? price : compilePrice(price)
  const input = usage.inputTokens
  let band: Rates = compiled.base
  for (const tier of compiled.tiers) if (input > tier.above) band = tier
  const cached = Math.min(usage.cachedInputTokens ?? 0, input)
  const written = Math.min(usage.cacheWriteTokens ?? 0, input - cached)
  const written1h = Math.min(usage.cacheWrite1hTokens ?? 0, written)
  const reasoning = Math.min(usage.reasoningTokens ?? 0, usage.outputTokens)
  const plainInput = input - cached - written
  const plainOutput = usage.outputTokens - reasoning
  const picoUsd =
    plainInput * band.input +
    cached * band.cachedInput +
    (written - written1h) * band.cacheWrite +
    written1h * band.cacheWrite1h +
    plainOutput * band.output +
    reasoning * band.reasoning
  if (picoUsd <= Number.MAX_SAFE_INTEGER) return Math.ceil(picoUsd / PICO_PER_MICRO)
  // Beyond 2^53 pico-USD (about $9,000 in one call) doubles lose units; BigInt stays exact.
  const big =
    BigInt(plainInput) * BigInt(band.input) +
    BigInt(cached) * BigInt(band.cachedInput) +
    BigInt(written - written1h) * BigInt(band.cacheWrite) +
    BigInt(written1h) * BigInt(band.cacheWrite1h) +
    BigInt(plainOutput) * BigInt(band.output) +
    BigInt(reasoning) * BigInt(band.reasoning)
  const micro = BigInt(PICO_PER_MICRO)
  return Number((big + micro - 1n) / micro)
}
