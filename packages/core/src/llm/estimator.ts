import { createHash } from 'node:crypto'
import type { Estimate, Usage } from '../types.js'
import type { LlmRequest } from './parse-request.js'
import { costMicroUsd, DEFAULT_PRICES, type PriceTable, resolvePrice } from './prices.js'
import { calibrationFor, encodingFor, gptTokenizer, type Tokenizer } from './tokenizer.js'

/** Options of `createEstimator()`. */
export interface EstimatorOptions {
  /** Token counter. @default gptTokenizer() */
  tokenizer?: Tokenizer
  /** Distinct messages whose counts are remembered. @default 10_000 */
  cacheSize?: number
  /** Output tokens reserved when a request sets no maximum. @default 1024 */
  defaultOutputTokens?: number
  /** Price overrides merged over DEFAULT_PRICES. @default {} */
  prices?: PriceTable
}

/** Estimates requests and prices usage. */
export interface Estimator {
  /** Input tokens, output budget and cost of a request before it runs. */
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
/** Cache keys longer than this are hashed rather than kept. */
const KEY_LIMIT = 2048

type Message = Record<string, unknown>

/**
 * Creates an estimator. Chat clients resend the whole history every turn, so each distinct
 * message is tokenized once and remembered (least recently used forgotten first).
 */
export function createEstimator(options: EstimatorOptions = {}): Estimator {
  const tokenizer = options.tokenizer ?? gptTokenizer()
  const cacheSize = options.cacheSize ?? 10_000
  const defaultOutput = options.defaultOutputTokens ?? 1024
  const prices: PriceTable = options.prices ? { ...DEFAULT_PRICES, ...options.prices } : DEFAULT_PRICES
  const cache = new Map<string, Map<string, number>>()

  const count = (text: string, model: string) => (text === '' ? 0 : tokenizer.count(text, model))

  /** One message's tokens, cached by encoding (`prefix`), role and content. */
  const message = (
    value: unknown,
    model: string,
    prefix: string,
    count: (message: Message, model: string) => number,
  ): number => {
    if (typeof value !== 'object' || value === null) return 0
    if (cacheSize === 0) return count(value as Message, model)
    const record = value as Message
    // Plain text messages of a known role are keyed by their content string itself: it arrives flat
    // from JSON.parse, so the lookup hashes it once and copies nothing.
    const simple = isPlain(record)
    const bucket = simple ? `${prefix}${record.role as string}` : prefix
    const text = simple ? (record.content as string) : JSON.stringify(record)
    const key = text.length <= KEY_LIMIT ? text : fingerprint(text)
    let entries = cache.get(bucket)
    if (entries === undefined) {
      entries = new Map()
      cache.set(bucket, entries)
    }
    const hit = entries.get(key)
    if (hit !== undefined) return hit
    const tokens = count(record, model)
    if (entries.size >= cacheSize) entries.delete(entries.keys().next().value as string)
    entries.set(key, tokens)
    return tokens
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

  const tools = (value: unknown, model: string): number =>
    value === undefined ? 0 : count(JSON.stringify(value), model)

  const input = (request: LlmRequest): number => {
    const { body, model } = request
    // Counts differ by encoding, and by model for calibrated (Claude, Gemini) estimates.
    const prefix = `${encodingFor(model)}:${calibrationFor(model) === 1 ? '' : model}:`
    switch (request.api) {
      case 'openai-chat': {
        let total = CHAT_OVERHEAD.reply
        for (const item of body.messages as unknown[]) total += message(item, model, prefix, chatMessage)
        return total + tools(body.tools, model) + tools(body.functions, model)
      }
      case 'anthropic-messages': {
        let total = content(body.system, model)
        for (const item of body.messages as unknown[]) total += message(item, model, prefix, chatMessage)
        return total + tools(body.tools, model)
      }
      case 'openai-responses': {
        let total = typeof body.instructions === 'string' ? count(body.instructions, model) : 0
        if (typeof body.input === 'string') total += count(body.input, model) + CHAT_OVERHEAD.reply
        else if (Array.isArray(body.input))
          for (const item of body.input) total += message(item, model, prefix, chatMessage)
        return total + tools(body.tools, model)
      }
      case 'openai-completions':
        return texts(body.prompt, (text) => count(text, model))
      case 'openai-embeddings':
        return texts(body.input, (text) => count(text, model))
    }
  }

  return {
    estimate(request) {
      const inputTokens = input(request)
      const outputTokens =
        request.api === 'openai-embeddings' ? 0 : (request.maxOutputTokens ?? defaultOutput) * request.n
      const costMicro = costMicroUsd({ inputTokens, outputTokens }, resolvePrice(request.model, prices))
      return {
        model: request.model,
        inputTokens,
        outputTokens,
        costMicroUsd: costMicro,
        costUsd: costMicro / 1_000_000,
      }
    },
    cost: (model, usage) => costMicroUsd(usage, resolvePrice(model, prices)),
    countText: (text, model) => count(text, model),
  }
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

/**
 * A cache key for a long message: SHA-256 of the whole text up to 1 MB; above that, of its length
 * and evenly spread slices, so hashing never costs more than the estimate it saves.
 */
function fingerprint(raw: string): string {
  const hash = createHash('sha256')
  if (raw.length <= 1_048_576) return hash.update(raw).digest('base64')
  hash.update(String(raw.length))
  const step = Math.floor(raw.length / 256)
  for (let i = 0; i < 256; i++) hash.update(raw.slice(i * step, i * step + 512))
  return hash.digest('base64')
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function'])

/** A text message whose tokens depend only on its role and content. */
function isPlain(record: Message): boolean {
  return (
    typeof record.content === 'string' &&
    typeof record.role === 'string' &&
    ROLES.has(record.role) &&
    record.name === undefined &&
    record.tool_calls === undefined &&
    record.function_call === undefined &&
    record.tool_call_id === undefined
  )
}
