export { type AlgorithmImpl, Field } from './algorithms/algorithm.js'
export { Entry } from './algorithms/entry.js'
export { fixedWindowBounds } from './algorithms/fixed-window.js'
export { ALGORITHMS } from './algorithms/index.js'
export { SLIDING_SLOTS } from './algorithms/sliding-window.js'
export { calendarWindow, parseWindow, type Window } from './duration.js'
export { type CompiledRule, compileRule } from './engine/compile-rule.js'
export type { Decision } from './engine/decision.js'
export type { LimitErrorEvent, LimitResolverOptions } from './engine/limit-resolver.js'
export { createLimiter, type Limiter, type UsageReport } from './engine/limiter.js'
export type { BlockOptions, PeekedRule } from './engine/operator.js'
export type {
  CommitEvent,
  LimiterEvents,
  LimiterOptions,
  Plan,
  Priority,
  QueueOptions,
  RouteOptions,
  StoreErrorPolicy,
} from './engine/options.js'
export { DEFAULT_RULES } from './engine/resolve-options.js'
export type { ThresholdEvent } from './engine/thresholds.js'
export { type ErrorCode, isLlmLimitError, LlmLimitError } from './errors.js'
export { alreadyCounted } from './http/already-counted.js'
export { type ErrorFormat, type ErrorResponse, errorCode, formatBody } from './http/format-body.js'
export {
  formatHeaders,
  formatResetDuration,
  type HeaderOptions,
  type IetfDraft,
  resolveHeaderOptions,
} from './http/format-headers.js'
export { createMiddlewareCore, type MiddlewareCore, type Outcome } from './http/middleware-core.js'
export {
  type BodyResult,
  isJsonContentType,
  parseJsonText,
  type ReadMode,
  readJsonBody,
} from './http/read-body.js'
export { ResponseTracker, trackResponse } from './http/response-tracker.js'
export { type NodeResponse, trackNodeResponse } from './http/track-node-response.js'
export { errorWebResponse, trackWebResponse, webStreamChunks } from './http/web-response.js'
export * from './identity/index.js'
export * from './llm/index.js'
export {
  type OpenTelemetryMetrics,
  type OpenTelemetryOptions,
  openTelemetryMetrics,
} from './metrics/open-telemetry.js'
export {
  mergeEvents,
  type PrometheusMetrics,
  type PrometheusOptions,
  prometheusMetrics,
} from './metrics/prometheus.js'
export { MemoryStore, type MemoryStoreOptions, memoryStore } from './store/memory-store.js'
export { CheckOutcome, ConsumeOutcome, PACKED_FIELDS, PackedOutcome, resultAt } from './store/outcome.js'
export type {
  ConsumeResult,
  OperatorStore,
  Store,
  StoreAdjustment,
  StoreAlgorithm,
  StoreBlock,
  StoreCheck,
  StoreCheckResult,
  StoreContext,
  StoreControlChange,
  StoreControls,
} from './store/store.js'
export { timeZoneName, zonedBoundaries } from './time-zone.js'
export type {
  Algorithm,
  By,
  Duration,
  Estimate,
  Identity,
  Limit,
  LimitFunction,
  LimitRequest,
  Measure,
  Reason,
  Rule,
  RuleState,
  Usage,
} from './types.js'
