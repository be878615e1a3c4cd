import type { Usage } from '../types.js'
import { geminiChunk, usageFromGemini } from './gemini.js'

const MAX = 1e9

function tokens(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX
    ? value
    : undefined
}

function object(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined
}

/**
 * Reads token usage from a provider's `usage` object, by the names each provider uses today:
 * OpenAI chat/completions/embeddings `prompt_tokens` (cached ones included) with
 * `prompt_tokens_details.{cached_tokens, cache_write_tokens}` and
 * `completion_tokens_details.reasoning_tokens`; the Responses API `input_tokens`/`output_tokens`
 * with `input_tokens_details` and `output_tokens_details`; Anthropic `input_tokens` WITHOUT cache
 * reads and writes (added here so `inputTokens` is the whole prompt), `cache_read_input_tokens`,
 * `cache_creation_input_tokens` and its `cache_creation` 5-minute / 1-hour split; Gemini
 * `usageMetadata`. Absurd figures are ignored.
 */
export function usageFromObject(value: unknown): Usage | undefined {
  const usage = object(value)
  if (!usage) return undefined
  if (usage.promptTokenCount !== undefined || usage.candidatesTokenCount !== undefined)
    return usageFromGemini(usage)
  const prompt = tokens(usage.prompt_tokens)
  if (prompt !== undefined) {
    const result: Usage = { inputTokens: prompt, outputTokens: tokens(usage.completion_tokens) ?? 0 }
    return withDetails(result, object(usage.prompt_tokens_details), object(usage.completion_tokens_details))
  }
  const input = tokens(usage.input_tokens)
  const output = tokens(usage.output_tokens)
  if (input === undefined && output === undefined) return undefined
  const cacheRead = tokens(usage.cache_read_input_tokens)
  const creation = object(usage.cache_creation)
  const written5m = tokens(creation?.ephemeral_5m_input_tokens) ?? 0
  const written1h = tokens(creation?.ephemeral_1h_input_tokens) ?? 0
  const cacheWrite = Math.max(tokens(usage.cache_creation_input_tokens) ?? 0, written5m + written1h)
  if (cacheRead !== undefined || usage.cache_creation_input_tokens !== undefined || creation) {
    // Anthropic: cache reads and writes are billed apart from input_tokens.
    const result: Usage = {
      inputTokens: (input ?? 0) + (cacheRead ?? 0) + cacheWrite,
      outputTokens: output ?? 0,
    }
    if (cacheRead) result.cachedInputTokens = cacheRead
    if (cacheWrite) result.cacheWriteTokens = cacheWrite
    if (written1h) result.cacheWrite1hTokens = written1h
    return result
  }
  const result: Usage = { inputTokens: input ?? 0, outputTokens: output ?? 0 }
  return withDetails(result, object(usage.input_tokens_details), object(usage.output_tokens_details), usage)
}

/** OpenAI's breakdowns: cache reads and writes of the prompt, reasoning of the output (all included in the totals). */
function withDetails(
  result: Usage,
  input: Record<string, unknown> | undefined,
  output: Record<string, unknown> | undefined,
  top?: Record<string, unknown>,
): Usage {
  const cached = Math.min(tokens(input?.cached_tokens) ?? 0, result.inputTokens)
  const written = Math.min(
    tokens(input?.cache_write_tokens) ?? tokens(top?.cache_write_tokens) ?? 0,
    result.inputTokens - cached,
  )
  const reasoning = Math.min(tokens(output?.reasoning_tokens) ?? 0, result.outputTokens)
  if (input?.cached_tokens !== undefined) result.cachedInputTokens = cached
  if (written) result.cacheWriteTokens = written
  if (reasoning) result.reasoningTokens = reasoning
  return result
}

/**
 * Usage (and the model that served it) from a whole JSON response body of any supported provider or
 * a Responses API event, or undefined; a Gemini `streamGenerateContent` answer without `alt=sse` is
 * a JSON array whose last chunk has the usage.
 */
export function usageFromJson(body: unknown): Usage | undefined {
  if (Array.isArray(body)) {
    for (let i = body.length - 1; i >= 0; i--) {
      const usage = usageFromJson(body[i])
      if (usage) return usage
    }
    return undefined
  }
  const record = object(body)
  if (!record) return undefined
  if (record.usageMetadata !== undefined) return geminiChunk(record).usage
  const response = object(record.response)
  const usage = usageFromObject(record.usage) ?? usageFromObject(response?.usage)
  const model = record.model ?? response?.model ?? record.modelVersion
  if (usage && typeof model === 'string') usage.model = model
  return usage
}
