import { shown } from '../errors.js'
import type { Usage } from '../types.js'
import type { InvalidLlmRequest, LlmRequest } from './parse-request.js'

/**
 * Gemini's generate routes: `/v1beta/models/gemini-2.5-pro:generateContent`, the same with
 * `:streamGenerateContent`, and Vertex AI's `/v1/projects/…/publishers/google/models/…:…`.
 * `:countTokens` is free and not matched. The colon may arrive percent-encoded.
 */
const GEMINI_ROUTE = /\/models\/([^/:]+)(?::|%3a)(generatecontent|streamgeneratecontent)$/

/** Most output tokens one request may ask for, as for the other APIs. */
const MAX_OUTPUT_TOKENS = 10_000_000
const MAX_CANDIDATES = 8

/** The model and the streaming flag of a Gemini generate route (lower-cased path), or undefined. */
export function geminiRoute(route: string): { model: string; stream: boolean } | undefined {
  const found = GEMINI_ROUTE.exec(route)
  if (found === null) return undefined
  return { model: decodeURIComponent(found[1]), stream: found[2] === 'streamgeneratecontent' }
}

/** Google's REST API takes both lowerCamel and proto snake_case field names. */
function field(record: Record<string, unknown>, camel: string, snake: string): unknown {
  return record[camel] ?? record[snake]
}

/**
 * A Gemini `generateContent` body as an LLM request: `contents`, `systemInstruction`, `tools`,
 * and from `generationConfig` the output budget (`maxOutputTokens`, else a thinking budget when
 * one is set) times `candidateCount`.
 */
export function parseGeminiRequest(
  record: Record<string, unknown>,
  route: { model: string; stream: boolean },
): LlmRequest | InvalidLlmRequest {
  if (route.model.length === 0 || route.model.length > 256)
    return { invalid: 'The model in the path must be a non-empty name like `gemini-2.5-pro`.' }
  const contents = record.contents
  if (!Array.isArray(contents) || contents.length === 0)
    return { invalid: '`contents` must be a non-empty array of `{ role, parts: [...] }`.' }
  const bad = contents.findIndex(
    (content) =>
      typeof content !== 'object' ||
      content === null ||
      !Array.isArray((content as Record<string, unknown>).parts),
  )
  if (bad >= 0) return { invalid: `\`contents[${bad}]\` must be an object with a \`parts\` array.` }
  const config = field(record, 'generationConfig', 'generation_config') ?? {}
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    return { invalid: `\`generationConfig\` must be an object, got ${shown(config)}.` }
  const generation = config as Record<string, unknown>
  const candidates = field(generation, 'candidateCount', 'candidate_count') ?? 1
  if (!Number.isInteger(candidates) || (candidates as number) < 1 || (candidates as number) > MAX_CANDIDATES)
    return {
      invalid: `\`generationConfig.candidateCount\` must be a whole number from 1 to ${MAX_CANDIDATES}, got ${shown(candidates)}.`,
    }
  const maximum = field(generation, 'maxOutputTokens', 'max_output_tokens')
  if (maximum !== undefined && maximum !== null && !outputCount(maximum))
    return {
      invalid: `\`generationConfig.maxOutputTokens\` must be a whole number from 0 to ${MAX_OUTPUT_TOKENS}, got ${shown(maximum)}.`,
    }
  return {
    api: 'gemini-generate-content',
    model: route.model,
    stream: route.stream,
    n: candidates as number,
    maxOutputTokens: outputCount(maximum) ? maximum : undefined,
    body: record,
  }
}

/**
 * The thinking budget a Gemini body sets (`generationConfig.thinkingConfig.thinkingBudget`), or 0.
 * Thinking counts against `maxOutputTokens`; without one, the estimate reserves the budget on top
 * of the default output.
 */
export function geminiThinkingBudget(body: Record<string, unknown>): number {
  const config = field(body, 'generationConfig', 'generation_config') as Record<string, unknown> | undefined
  const thinking = config && (field(config, 'thinkingConfig', 'thinking_config') as Record<string, unknown>)
  const budget =
    typeof thinking === 'object' && thinking !== null && field(thinking, 'thinkingBudget', 'thinking_budget')
  return outputCount(budget) ? budget : 0
}

function outputCount(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_OUTPUT_TOKENS
}

const MAX = 1e9

function tokens(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX
    ? value
    : undefined
}

/**
 * Usage from Gemini's `usageMetadata`: `promptTokenCount` (cached content and tool-use prompts
 * included), `cachedContentTokenCount`, and output as `candidatesTokenCount` plus
 * `thoughtsTokenCount`, which Google bills as output but leaves out of the candidates' count.
 */
export function usageFromGemini(value: unknown): Usage | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const metadata = value as Record<string, unknown>
  const prompt = tokens(metadata.promptTokenCount)
  const candidates = tokens(metadata.candidatesTokenCount)
  const thoughts = tokens(metadata.thoughtsTokenCount) ?? 0
  if (prompt === undefined && candidates === undefined) return undefined
  const inputTokens = (prompt ?? 0) + (tokens(metadata.toolUsePromptTokenCount) ?? 0)
  const usage: Usage = { inputTokens, outputTokens: (candidates ?? 0) + thoughts }
  const cached = tokens(metadata.cachedContentTokenCount)
  if (cached) usage.cachedInputTokens = Math.min(cached, inputTokens)
  if (thoughts) usage.reasoningTokens = thoughts
  return usage
}

/** What one streamed `GenerateContentResponse` chunk carries: its usage so far, and its text (thoughts included). */
export function geminiChunk(event: Record<string, unknown>): { usage: Usage | undefined; text: string } {
  let text = ''
  const candidates = event.candidates
  if (Array.isArray(candidates))
    for (const candidate of candidates) {
      const parts = (candidate as { content?: { parts?: unknown } } | null)?.content?.parts
      if (Array.isArray(parts))
        for (const part of parts) {
          const value = (part as { text?: unknown } | null)?.text
          if (typeof value === 'string') text += value
        }
    }
  const usage = usageFromGemini(event.usageMetadata)
  if (usage && typeof event.modelVersion === 'string') usage.model = event.modelVersion
  return { usage, text }
}
