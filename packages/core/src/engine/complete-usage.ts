import { LlmLimitError, shown } from '../errors.js'
import type { Estimate, Usage } from '../types.js'

const MAX_TOKENS = 1e9

/** Fills fields the caller left out from the estimate and rejects numbers no provider reports. */
export function completeUsage(usage: Partial<Usage> | undefined, estimate: Estimate): Usage {
  const inputTokens = count(usage?.inputTokens, estimate.inputTokens, 'inputTokens')
  const outputTokens = count(usage?.outputTokens, estimate.outputTokens, 'outputTokens')
  const complete: Usage = { inputTokens, outputTokens }
  if (usage?.cachedInputTokens !== undefined) {
    complete.cachedInputTokens = Math.min(inputTokens, count(usage.cachedInputTokens, 0, 'cachedInputTokens'))
  }
  if (usage?.cacheWriteTokens !== undefined)
    complete.cacheWriteTokens = count(usage.cacheWriteTokens, 0, 'cacheWriteTokens')
  for (const field of ['cacheWrite1hTokens', 'reasoningTokens'] as const)
    if (usage?.[field] !== undefined) complete[field] = count(usage[field], 0, field)
  if (usage?.costMicroUsd !== undefined)
    complete.costMicroUsd = count(usage.costMicroUsd, 0, 'costMicroUsd', 1e15)
  if (typeof usage?.model === 'string') complete.model = usage.model
  return complete
}

function count(value: unknown, fallback: number, field: string, max = MAX_TOKENS): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new LlmLimitError(
      'ERR_INVALID_USAGE',
      `Expected \`commit({ ${field} })\` to be a whole number between 0 and ${max}, got ${shown(value)}.`,
    )
  }
  return value
}
