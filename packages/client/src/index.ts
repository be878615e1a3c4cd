export { type BackoffFetchOptions, backoffFetch, type RetryContext } from './backoff-fetch.js'
export {
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
  circuitBreaker,
} from './circuit-breaker.js'
export { ClientError, type ClientErrorCode, UpstreamQuotaError } from './errors.js'
export { parseResetDuration } from './parse-duration.js'
export {
  type Dimension,
  type HeaderSource,
  type Policy,
  parseRateLimitHeaders,
  type QuotaUnit,
  type RateLimitInfo,
} from './parse-rate-limit-headers.js'
export {
  type Priority,
  type PriorityQueue,
  type PriorityQueueOptions,
  priorityQueue,
} from './priority-queue.js'
export {
  type GuardEstimate,
  type GuardStore,
  type QuotaSnapshot,
  type UpstreamGuard,
  type UpstreamGuardOptions,
  upstreamGuard,
} from './upstream-guard.js'
