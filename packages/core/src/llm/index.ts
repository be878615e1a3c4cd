export {
  CHAT_OVERHEAD,
  createEstimator,
  type Estimator,
  type EstimatorOptions,
  IMAGE_TOKENS,
} from './estimator.js'
export { EXACT_BUDGET, guardedCount, MAX_RUN } from './guard.js'
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
  costMicroUsd,
  DEFAULT_PRICES,
  FALLBACK_PRICE,
  type Price,
  type PriceTable,
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
