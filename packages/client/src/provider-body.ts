import { parseResetDuration } from './parse-duration.js'

type Loose = Record<string, unknown>

const record = (value: unknown): Loose | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Loose) : undefined

/**
 * Gemini's 429 body: `error.details[]` with `@type` …RetryInfo and `retryDelay: "30s"` (or
 * `{ seconds, nanos }`); the REST API sometimes wraps the whole body in an array: `[{ error }]`.
 */
export function geminiRetryDelay(body: unknown): number | undefined {
  const top = Array.isArray(body) ? body[0] : body
  const details = record(record(top)?.error)?.details
  if (!Array.isArray(details)) return undefined
  for (const detail of details) {
    const item = record(detail)
    const type = item?.['@type']
    if (typeof type !== 'string' || !type.endsWith('RetryInfo')) continue
    const delay = item?.retryDelay
    if (typeof delay === 'string') return parseResetDuration(delay)
    const parts = record(delay)
    if (parts) {
      const seconds = Number(parts.seconds ?? 0)
      const nanos = Number(parts.nanos ?? 0)
      if (Number.isFinite(seconds) && Number.isFinite(nanos) && seconds >= 0 && nanos >= 0)
        return seconds * 1000 + nanos / 1e6
    }
  }
  return undefined
}

/** Token usage a provider reported in a JSON response body (OpenAI chat/responses, Anthropic, Gemini). */
export interface BodyUsage {
  /** Input (prompt) tokens. */
  inputTokens: number
  /** Output (completion) tokens. */
  outputTokens: number
}

/** Reads `usage` from an OpenAI, Anthropic or Gemini JSON body, or undefined when there is none. */
export function bodyUsage(body: unknown): BodyUsage | undefined {
  const top = record(Array.isArray(body) ? body[0] : body)
  const usage = record(top?.usage)
  const count = (...values: unknown[]) => {
    for (const value of values)
      if (typeof value === 'number' && value >= 0 && Number.isFinite(value)) return value
    return undefined
  }
  if (usage) {
    const input = count(usage.prompt_tokens, usage.input_tokens)
    const output = count(usage.completion_tokens, usage.output_tokens)
    // Anthropic reports cache writes outside input_tokens, and its input-token limit counts them.
    const cached = count(usage.cache_creation_input_tokens) ?? 0
    if (input !== undefined || output !== undefined)
      return { inputTokens: (input ?? 0) + cached, outputTokens: output ?? 0 }
  }
  const gemini = record(top?.usageMetadata)
  if (gemini) {
    const input = count(gemini.promptTokenCount)
    const output = count(gemini.candidatesTokenCount)
    if (input !== undefined || output !== undefined)
      return { inputTokens: input ?? 0, outputTokens: output ?? 0 }
  }
  return undefined
}
