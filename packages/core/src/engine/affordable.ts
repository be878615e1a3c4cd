import type { LlmRequest } from '../llm/index.js'
import { MAX_OUTPUT_TOKENS } from '../llm/parse-request.js'
import type { StoreCheckResult } from '../store/store.js'
import type { Estimate, Usage } from '../types.js'
import type { CompiledRule } from './compile-rule.js'

/** The request a smaller retry would repeat: its estimate and parsed body. */
export interface Sized {
  readonly estimate: Estimate
  readonly llm: LlmRequest | undefined
}

/** Prices a usage in micro-USD as the estimate was priced. */
export interface Pricing {
  costMicroUsd(model: string | undefined, usage: Usage): number
}

/** What a denial offers instead of waiting: the output cap a retry may set, or 0 when not even 1 fits. */
export interface Fit {
  /** The body field that caps the output (`max_tokens`, `max_completion_tokens` or `max_output_tokens`). */
  readonly param: string
  /** The largest value of `param` that fits now; 0 when nothing does. */
  readonly maxTokens: number
}

/** The body field that caps the output: the one the request set, or else the API's own. */
export function outputParam(llm: LlmRequest): string {
  for (const field of ['max_completion_tokens', 'max_tokens', 'max_output_tokens']) {
    const value = llm.body[field]
    if (value !== undefined && value !== null) return field
  }
  return llm.api === 'openai-responses' ? 'max_output_tokens' : 'max_tokens'
}

/**
 * The largest output cap (per choice, so `n` choices fit) with which the same request fits every rule,
 * read from the store's answer to a denied request (nothing charged, so each rule's remaining is as
 * it was). Rules that admitted count too: a store that is not atomic may not have weighed them all.
 * Undefined when a rule that denied does not count output (requests, input tokens, leases), so a
 * smaller `max_tokens` cannot help, or when the request is no LLM call that takes an output cap.
 */
export function affordableOutput(
  rules: readonly CompiledRule[],
  results: readonly StoreCheckResult[],
  sized: Sized,
  pricing: Pricing,
): Fit | undefined {
  const llm = sized.llm
  if (llm === undefined || llm.api === 'openai-embeddings') return undefined
  let most = MAX_OUTPUT_TOKENS
  let denied = false
  for (let i = 0; i < rules.length; i++) {
    const out = results[i]
    const fits = fitting(rules[i], out.remaining, llm, sized.estimate, pricing)
    if (!out.allowed) {
      if (fits === undefined) return undefined
      denied = true
    }
    if (fits !== undefined) most = Math.min(most, fits)
  }
  return denied ? { param: outputParam(llm), maxTokens: Math.max(0, most) } : undefined
}

/** Largest output cap per choice that fits `remaining` store units of `rule`, or undefined when output does not count. */
function fitting(
  rule: CompiledRule,
  remaining: number,
  llm: LlmRequest,
  estimate: Estimate,
  pricing: Pricing,
): number | undefined {
  const { inputTokens, model } = estimate
  switch (rule.measure) {
    case 'tokens':
      return Math.floor((remaining - inputTokens) / llm.n)
    case 'outputTokens':
      return Math.floor(remaining / llm.n)
    case 'costUsd': {
      // Costs round up per call, so the cap is searched with the same pricing the estimate used.
      const costOf = (cap: number) => pricing.costMicroUsd(model, { inputTokens, outputTokens: cap * llm.n })
      if (costOf(0) > remaining) return -1
      let low = 0
      let high = MAX_OUTPUT_TOKENS
      while (low < high) {
        const middle = Math.ceil((low + high) / 2)
        if (costOf(middle) <= remaining) low = middle
        else high = middle - 1
      }
      return low
    }
    default:
      return undefined
  }
}
