import { createHash } from 'node:crypto'
import { boundedMemo } from '../bounded-memo.js'
import { configError, shown } from '../errors.js'
import type { Estimate, Usage } from '../types.js'
import { geminiThinkingBudget } from './gemini.js'
import { type CachedCount, createMessageCache } from './message-cache.js'
import { createModelPrices, type ModelPrice, UnpricedModelError } from './model-prices.js'
import { type LlmRequest, MAX_OUTPUT_TOKENS } from './parse-request.js'
import type { PricingOptions } from './price-catalog.js'
import { costMicroUsd, type PriceTable } from './prices.js'
import { gptTokenizer, type Tokenizer } from './tokenizer.js'

/** Options of `createEstimator()`. */
export interface EstimatorOptions {
  /** Token counter. @default gptTokenizer() */
  tokenizer?: Tokenizer
  /** Distinct messages whose counts are remembered. @default 10_000 */
  cacheSize?: number
  /** Output tokens reserved when a request sets no maximum. @default 1024 */
  defaultOutputTokens?: number
  /** Prices by model (exact name or longest prefix) that beat the catalog. @default {} */
  prices?: PriceTable
  /** Where other prices come from and what an unknown model gets. @default { catalog: 'bundled', unknownModel: 'fallback' } */
  pricing?: PricingOptions
}

/** Estimates requests and prices usage. */
export interface Estimator {
  /**
   * Input tokens, output budget and cost of a request before it runs, priced in the tier its
   * prompt lands in; throws UnpricedModelError for an unknown model under `unknownModel: 'refuse'`.
   */
  estimate(request: LlmRequest): Estimate
  /** Cost of actual usage in micro-USD. */
  cost(model: string | undefined, usage: Usage): number
  /** Tokens of plain text for a model. */
  countText(text: string, model: string): number
}

/** Overhead per OpenAI's counting guide: 3 tokens per message, 1 per name, 3 to prime the reply. */
export const CHAT_OVERHEAD = { perMessage: 3, perName: 1, reply: 3 } as const
/** A low-detail image, and the default assumption for high detail (a 512 px tile grid of a typical image). */
export const IMAGE_TOKENS = { low: 85, high: 765 } as const
/** Texts up to this length are kept in the cache as they are; longer ones by their SHA-256. */
const KEEP_LIMIT = 8192
/** Texts longer than this are not cached: the guard samples them, which costs less than hashing them. */
const CACHE_LIMIT = 262_144
/** Distinct models whose cache scope and price are remembered. */
const MODEL_LIMIT = 1024
/**
 * Most time the counting of one request may take. Each count is bounded already, but a body of
 * 200,000 tiny distinct parts is 200,000 counts; past the budget, the rest is extrapolated by
 * characters at the rate this request has shown so far (the reservation is reconciled afterwards).
 */
const REQUEST_BUDGET_MS = 20
/** The clock is read once per this many short counts (a power of two), and before every long one. */
const CLOCK_EVERY = 32
/** A text this long may take a few ms to count (the guard allows 4), more than reading the clock. */
const LONG_TEXT = 256
/** Tokens per character assumed at least when extrapolating: about 4 characters per token in English. */
const MIN_TOKENS_PER_CHAR = 0.25

type Message = Record<string, unknown>

/** What an estimate needs to know about a model, resolved once per model. */
interface ModelInfo {
  readonly scope: string
  readonly price: ModelPrice
}

/**
 * Creates an estimator. Chat clients resend the whole history every turn, so each distinct
 * message is tokenized once and remembered (least recently used forgotten first).
 */
export function createEstimator(options: EstimatorOptions = {}): Estimator {
  const tokenizer = options.tokenizer ?? gptTokenizer()
  // Limiters are built at startup: loading the encoding here keeps the first request fast.
  tokenizer.preload?.()
  const cacheSize = options.cacheSize ?? 10_000
  const defaultOutput = options.defaultOutputTokens ?? 1024
  if (!Number.isInteger(defaultOutput) || defaultOutput < 0 || defaultOutput > MAX_OUTPUT_TOKENS) {
    configError(
      `Expected \`defaultOutputTokens\` to be a whole number from 0 to ${MAX_OUTPUT_TOKENS}, got ${shown(defaultOutput)}.`,
    )
  }
  const priceOf = createModelPrices(options.prices, options.pricing)
  // About 1 KB of text per remembered message on average bounds the memory as well as the count.
  const cache = cacheSize > 0 ? createMessageCache(cacheSize, cacheSize * 1024) : undefined
  // The cached text counted last in the current request: a resent history is found by following it.
  let previous: CachedCount | undefined

  const exactCount = (text: string, model: string) => (text === '' ? 0 : tokenizer.count(text, model))

  // The request being estimated: its deadline (0 until its first count), and what it counted so far.
  let deadline = 0
  let counts = 0
  let countedChars = 0
  let countedTokens = 0
  let extrapolating = false
  const count = (text: string, model: string): number => {
    if (text === '') return 0
    if (!extrapolating && ((counts++ & (CLOCK_EVERY - 1)) === 0 || text.length >= LONG_TEXT)) {
      const now = performance.now()
      if (deadline === 0) deadline = now + REQUEST_BUDGET_MS
      else extrapolating = now > deadline
    }
    if (extrapolating)
      return Math.ceil(text.length * Math.max(MIN_TOKENS_PER_CHAR, countedTokens / Math.max(1, countedChars)))
    const tokens = tokenizer.count(text, model)
    countedChars += text.length
    countedTokens += tokens
    return tokens
  }

  const modelInfo = boundedMemo(
    MODEL_LIMIT,
    (model: string): ModelInfo => ({
      scope: tokenizer.cacheKey?.(model) ?? `model:${model}`,
      price: priceOf(model),
    }),
  )

  /**
   * `compute(value, model)`, remembered under the model's scope, the text's `form` and `extra`;
   * `compute` is a stable function, not a closure, so a hit allocates nothing.
   */
  const cached = <Value>(
    scope: string,
    form: string,
    text: string,
    extra: string | undefined,
    compute: (value: Value, model: string) => number,
    value: Value,
    model: string,
  ): number => {
    if (cache === undefined || text.length > CACHE_LIMIT) return compute(value, model)
    const kept = text.length <= KEEP_LIMIT
    const key = kept ? text : digest(text)
    // A digest is never compared with a kept text: its form says which it is.
    const keyForm = kept ? form : `sha256:${form}`
    const hit = cache.find(previous, scope, keyForm, key, extra)
    if (hit !== undefined) {
      previous = hit
      return hit.tokens
    }
    const tokens = compute(value, model)
    // An extrapolated count is good for this reservation, not for every later request.
    if (!extrapolating) previous = cache.add(previous, scope, keyForm, key, extra, tokens)
    return tokens
  }

  /** One message's tokens: plain text messages by their fields, anything else by its JSON. */
  const message = (value: unknown, model: string, scope: string): number => {
    if (typeof value !== 'object' || value === null) return 0
    const record = value as Message
    const { role, content, name, tool_call_id: toolCallId } = record
    if (
      typeof content === 'string' &&
      typeof role === 'string' &&
      ROLES.has(role) &&
      (name === undefined || typeof name === 'string') &&
      (toolCallId === undefined || typeof toolCallId === 'string') &&
      record.tool_calls === undefined &&
      record.function_call === undefined
    ) {
      const extra =
        name === undefined && toolCallId === undefined ? undefined : `${name ?? ''}\u0000${toolCallId ?? ''}`
      return cached(scope, role, content, extra, chatMessage, record, model)
    }
    return cached(scope, 'json', JSON.stringify(record), undefined, chatMessage, record, model)
  }

  const content = (value: unknown, model: string): number => {
    if (typeof value === 'string') return count(value, model)
    if (!Array.isArray(value))
      return value === undefined || value === null ? 0 : count(JSON.stringify(value), model)
    let total = 0
    for (const part of value as Record<string, unknown>[]) {
      if (typeof part !== 'object' || part === null) continue
      if (typeof part.text === 'string') total += count(part.text, model)
      else if (part.type === 'image_url' || part.type === 'image' || part.type === 'input_image')
        total += imageTokens(part)
      else if (part.type === 'tool_result') total += content(part.content, model)
      else if (part.type === 'tool_use')
        total += count(JSON.stringify(part.input ?? {}), model) + count(String(part.name ?? ''), model)
      else total += count(JSON.stringify(part), model)
    }
    return total
  }

  const chatMessage = (value: Message, model: string): number => {
    let tokens =
      CHAT_OVERHEAD.perMessage + count(String(value.role ?? ''), model) + content(value.content, model)
    if (typeof value.name === 'string') tokens += count(value.name, model) + CHAT_OVERHEAD.perName
    if (value.tool_calls !== undefined) tokens += count(JSON.stringify(value.tool_calls), model)
    if (value.function_call !== undefined) tokens += count(JSON.stringify(value.function_call), model)
    if (typeof value.tool_call_id === 'string') tokens += count(value.tool_call_id, model)
    return tokens
  }

  /** Tool definitions are resent with every request, like the history. */
  const tools = (value: unknown, model: string, scope: string): number => {
    if (value === undefined) return 0
    const text = JSON.stringify(value)
    return cached(scope, 'tools', text, undefined, count, text, model)
  }

  /** A system prompt or instructions: a string, or parts like a message's content. */
  const prompt = (value: unknown, model: string, scope: string): number =>
    typeof value === 'string'
      ? cached(scope, 'prompt', value, undefined, count, value, model)
      : value === undefined || value === null
        ? 0
        : cached(scope, 'prompt-json', JSON.stringify(value), undefined, content, value, model)

  const input = (request: LlmRequest, scope: string): number => {
    const { body, model } = request
    previous = undefined
    switch (request.api) {
      case 'openai-chat': {
        let total = CHAT_OVERHEAD.reply
        for (const item of body.messages as unknown[]) total += message(item, model, scope)
        return total + tools(body.tools, model, scope) + tools(body.functions, model, scope)
      }
      case 'anthropic-messages': {
        let total = prompt(body.system, model, scope)
        for (const item of body.messages as unknown[]) total += message(item, model, scope)
        return total + tools(body.tools, model, scope)
      }
      case 'openai-responses': {
        let total = typeof body.instructions === 'string' ? prompt(body.instructions, model, scope) : 0
        if (typeof body.input === 'string') total += prompt(body.input, model, scope) + CHAT_OVERHEAD.reply
        else if (Array.isArray(body.input))
          for (const item of body.input) total += message(item, model, scope)
        return total + tools(body.tools, model, scope)
      }
      case 'openai-completions':
        return texts(body.prompt, (text) => count(text, model))
      case 'openai-embeddings':
        return texts(body.input, (text) => count(text, model))
      case 'gemini-generate-content': {
        const system = body.systemInstruction ?? body.system_instruction
        let total = system === undefined ? 0 : geminiItem(system, model, scope)
        for (const item of body.contents as unknown[]) total += geminiItem(item, model, scope)
        return total + tools(body.tools, model, scope)
      }
    }
  }

  /** A Gemini content (`{ role, parts }`) or system instruction, remembered like a chat message. */
  const geminiItem = (value: unknown, model: string, scope: string): number =>
    typeof value === 'string'
      ? cached(scope, 'prompt', value, undefined, count, value, model)
      : cached(scope, 'gemini', JSON.stringify(value), undefined, geminiContent, value, model)

  const geminiContent = (value: unknown, model: string): number => {
    const parts = (value as { parts?: unknown } | null)?.parts
    if (!Array.isArray(parts)) return count(JSON.stringify(value), model)
    let total = CHAT_OVERHEAD.perMessage
    for (const part of parts as Record<string, unknown>[]) {
      if (typeof part !== 'object' || part === null) continue
      if (typeof part.text === 'string') total += count(part.text, model)
      // Inline bytes are media, billed per image or second, never by their base64 text.
      else if (part.inlineData !== undefined || part.inline_data !== undefined || part.fileData !== undefined)
        total += IMAGE_TOKENS.high
      else total += count(JSON.stringify(part), model)
    }
    return total
  }

  return {
    estimate(request) {
      deadline = 0
      counts = 0
      countedChars = 0
      countedTokens = 0
      extrapolating = false
      const info = modelInfo(request.model)
      if (info.price.refused) throw new UnpricedModelError(request.model)
      const inputTokens = input(request, info.scope)
      const outputTokens = request.api === 'openai-embeddings' ? 0 : outputBudget(request, defaultOutput)
      // The prompt's length picks the tier, as the provider will: all of it is priced there.
      const costMicro = costMicroUsd({ inputTokens, outputTokens }, info.price.compiled)
      return {
        model: request.model,
        inputTokens,
        outputTokens,
        costMicroUsd: costMicro,
        costUsd: costMicro / 1_000_000,
      }
    },
    cost: (model, usage) =>
      costMicroUsd(usage, (model === undefined ? priceOf(model) : modelInfo(model).price).compiled),
    countText: exactCount,
  }
}

/** Output tokens reserved: the maximum asked for (Gemini: or the default plus a thinking budget), times `n`. */
function outputBudget(request: LlmRequest, defaultOutput: number): number {
  if (request.maxOutputTokens !== undefined) return request.maxOutputTokens * request.n
  const thinking = request.api === 'gemini-generate-content' ? geminiThinkingBudget(request.body) : 0
  return (defaultOutput + thinking) * request.n
}

/** A string, an array of strings, or token arrays (counted by their length). */
function texts(value: unknown, count: (text: string) => number): number {
  if (typeof value === 'string') return count(value)
  if (!Array.isArray(value)) return 0
  if (value.every((item) => typeof item === 'number')) return value.length
  let total = 0
  for (const item of value)
    total += typeof item === 'string' ? count(item) : Array.isArray(item) ? item.length : 0
  return total
}

function imageTokens(part: Record<string, unknown>): number {
  const detail = (part.image_url as Record<string, unknown> | undefined)?.detail ?? part.detail
  return detail === 'low' ? IMAGE_TOKENS.low : IMAGE_TOKENS.high
}

/** A cache key for a long text: its SHA-256, so the cache keeps 44 characters instead of the text. */
function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64')
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function'])
