export type { Decision, LimiterOptions, Rule } from '@llm-limit/core'
export { type HonoLimitOptions, type LlmLimitMiddleware, llmLimit } from './llm-limit.js'
export { metricsHandler } from './metrics-handler.js'
export { llmUsage } from './usage-handler.js'
