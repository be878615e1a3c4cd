import type { Decision } from '../engine/decision.js'
import { createLimiter, type Limiter } from '../engine/limiter.js'
import type { LimiterOptions } from '../engine/options.js'
import { positiveInteger } from '../engine/resolve-options.js'
import { shown } from '../errors.js'
import { createWarnings } from '../identity/warnings.js'
import { withStreamUsage } from '../llm/index.js'
import type { LimitRequest } from '../types.js'
import { type ErrorResponse, formatBody } from './format-body.js'
import { formatHeaders, type ResolvedHeaderOptions, resolveHeaderOptions } from './format-headers.js'
import { type ResponseTracker, trackResponse } from './response-tracker.js'

/** What an adapter does with one request: headers to set, and either an error response or a tracker. */
export interface Outcome {
  /** The decision, to expose to handlers. */
  decision: Decision
  /** Headers for the response, allowed or not. */
  headers: Record<string, string>
  /** The error response to send instead of calling the handler. */
  denial: ErrorResponse | undefined
  /** Settles the decision from the response; undefined when nothing needs settling. */
  tracker: ResponseTracker | undefined
}

/** The framework-free part of every adapter: one limiter, one `handle()` per request. */
export interface MiddlewareCore {
  /** The limiter behind the middleware. */
  readonly limiter: Limiter
  /** Largest body an adapter should read itself, in bytes. */
  readonly maxBodyBytes: number
  /**
   * Decides a request and prepares everything the adapter writes, synchronously when the decision
   * was (see `Limiter.checkNow`). `marker` is the framework's own request object and
   * `socketAddress` the peer address, for the warn-once checks.
   */
  handle(request: LimitRequest, marker?: object, socketAddress?: string): Outcome | Promise<Outcome>
  /** Error response for a body that could not be read or parsed. */
  bodyError(status: 400 | 413 | 415, message: string): ErrorResponse
}

/** Builds the shared adapter core from the adapter's options. */
export function createMiddlewareCore(options: LimiterOptions = {}): MiddlewareCore {
  const warnings = createWarnings(options.validations)
  const limiter = createLimiter(options)
  const headerOptions: ResolvedHeaderOptions = resolveHeaderOptions(options.headers)
  const format = options.errorFormat ?? 'openai'
  if (typeof format !== 'function' && !['openai', 'anthropic', 'gemini', 'problem'].includes(format)) {
    throw new TypeError(
      `Expected \`errorFormat\` to be 'openai', 'anthropic', 'gemini', 'problem' or a function, got ${shown(format)}.`,
    )
  }
  const includeStreamUsage = options.includeStreamUsage ?? true
  const maxBodyBytes = positiveInteger(options.maxBodyBytes, 4 * 1024 * 1024, 'maxBodyBytes')

  const outcomeOf = (decision: Decision, request: LimitRequest, marker: object | undefined): Outcome => {
    if (marker !== undefined && decision.rules.length > 0) warnings.doubleCount(marker, decision.rules)
    const headers = formatHeaders(decision, headerOptions)
    if (!decision.allowed)
      return { decision, headers, denial: formatBody(decision, format), tracker: undefined }
    const llm = decision.llm
    if (includeStreamUsage && llm?.stream && typeof request.body === 'object' && request.body !== null) {
      // Without this flag OpenAI streams carry no usage, and the estimate could never be corrected.
      const patched = withStreamUsage(llm.body)
      if (patched !== llm.body) Object.assign(request.body, { stream_options: patched.stream_options })
    }
    return { decision, headers, denial: undefined, tracker: trackResponse(decision, limiter) }
  }

  return {
    limiter,
    maxBodyBytes,
    handle(request, marker, socketAddress) {
      warnings.proxyHeaderWithoutTrust(request, socketAddress)
      const decided = limiter.checkNow(request)
      return decided instanceof Promise
        ? decided.then((decision) => outcomeOf(decision, request, marker))
        : outcomeOf(decided, request, marker)
    },
    bodyError(status, message) {
      const code = status === 413 ? 'request_too_large' : 'invalid_request'
      return {
        status,
        contentType: 'application/json',
        body: JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code } }),
      }
    },
  }
}
