export {
  CHAT_OVERHEAD,
  createEstimator,
  type Estimator,
  type EstimatorOptions,
  IMAGE_TOKENS,
} from './estimator.js'
export { geminiChunk, geminiRoute, usageFromGemini } from './gemini.js'
export { EXACT_BUDGET, guardedCount, MAX_RUN } from './guard.js'
export { type ModelPrice, UnpricedModelError } from './model-prices.js'
export {
  apiForPath,
  type InvalidLlmRequest,
  type LlmApi,
  type LlmRequest,
  parseLlmRequest,
  routePath,
  withStreamUsage,
} from './parse-request.js'
export {
  type CatalogMatch,
  type CatalogModel,
  type CatalogPriceValue,
  type CatalogProvider,
  catalogPrice,
  catalogSource,
  type PricingOptions,
} from './price-catalog.js'
export {
  type CompiledPrice,
  compilePrice,
  costMicroUsd,
  FALLBACK_PRICE,
  type Price,
  type PriceTable,
  type PriceTier,
  resolvePrice,
} from './prices.js'
export {
  CALIBRATION,
  calibrationFor,
  type EncodingName,
  encodingFor,
  type GptTokenizerEncoding,
  type GptTokenizerOptions,
  gptTokenizer,
  type JsTiktokenModule,
  jsTiktoken,
  type Tokenizer,
} from './tokenizer.js'
export { usageFromJson, usageFromObject } from './usage.js'
export { createUsageSniffer, type UsageSniffer, type UsageSnifferOptions } from './usage-sniffer.js'
