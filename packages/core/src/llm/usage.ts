import type { Usage } from '../types.js'

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
 * Reads token usage from a provider's `usage` object. OpenAI chat/completions/embeddings report
 * `prompt_tokens` (cached ones included) and `completion_tokens`; the Responses API reports
 * `input_tokens`/`output_tokens`; Anthropic reports `input_tokens` WITHOUT cache reads and writes,
 * so those are added to make `inputTokens` the whole prompt. Absurd figures are ignored.
 */
export function usageFromObject(value: unknown): Usage | undefined {
  const usage = object(value)
  if (!usage) return undefined
  const prompt = tokens(usage.prompt_tokens)
  if (prompt !== undefined) {
    const cached = tokens(object(usage.prompt_tokens_details)?.cached_tokens)
    const result: Usage = { inputTokens: prompt, outputTokens: tokens(usage.completion_tokens) ?? 0 }
    if (cached !== undefined) result.cachedInputTokens = Math.min(cached, prompt)
    return result
  }
  const input = tokens(usage.input_tokens)
  const output = tokens(usage.output_tokens)
  if (input === undefined && output === undefined) return undefined
  const cacheRead = tokens(usage.cache_read_input_tokens)
  const cacheWrite = tokens(usage.cache_creation_input_tokens)
  if (cacheRead !== undefined || cacheWrite !== undefined) {
    // Anthropic: cache reads and writes are billed apart from input_tokens.
    const result: Usage = {
      inputTokens: (input ?? 0) + (cacheRead ?? 0) + (cacheWrite ?? 0),
      outputTokens: output ?? 0,
    }
    if (cacheRead) result.cachedInputTokens = cacheRead
    if (cacheWrite) result.cacheWriteTokens = cacheWrite
    return result
  }
  const result: Usage = { inputTokens: input ?? 0, outputTokens: output ?? 0 }
  const cached = tokens(object(usage.input_tokens_details)?.cached_tokens)
  if (cached !== undefined) result.cachedInputTokens = Math.min(cached, result.inputTokens)
  return result
}

/** Usage (and the model that served it) from a whole JSON response body or a Responses API event, or undefined. */
export function usageFromJson(body: unknown): Usage | undefined {
  const record = object(body)
  if (!record) return undefined
  const response = object(record.response)
  const usage = usageFromObject(record.usage) ?? usageFromObject(response?.usage)
  const model = record.model ?? response?.model
  if (usage && typeof model === 'string') usage.model = model
  return usage
}
