import type { Decision } from '../engine/decision.js'
import { createLimiter, type Limiter } from '../engine/limiter.js'
import type { LimiterOptions } from '../engine/options.js'
import { positiveInteger } from '../engine/resolve-options.js'
import { shown } from '../errors.js'
import { createWarnings } from '../identity/warnings.js'
import { withStreamUsage } from '../llm/index.js'
import { llmRouteKind } from '../llm/parse-request.js'
import type { LimitRequest } from '../types.js'
import { type ErrorResponse, formatBody } from './format-body.js'
import { formatHeaders, type ResolvedHeaderOptions, resolveHeaderOptions } from './format-headers.js'
import {
  type BodyResult,
  isJsonContentType,
  parseJsonText,
  type ReadMode,
  readJsonBody,
} from './read-body.js'
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
  /**
   * Whether the adapter must read the body itself (no parser ran): a JSON body always, and on a
   * path an LLM API uses any body at all, so no call is admitted unread; undefined when not.
   */
  readMode(method: string, path: string, contentType: string | undefined): ReadMode | undefined
  /** Reads the body as `readMode` said, bounded by `maxBodyBytes`, decoding `content-encoding`. */
  readBody(
    source: AsyncIterable<Uint8Array | string>,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    mode: ReadMode,
  ): Promise<BodyResult>
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
    let strip = false
    if (marker !== undefined && decision.rules.length > 0) warnings.doubleCount(marker, decision.rules)
    const headers = formatHeaders(decision, headerOptions)
    if (!decision.allowed)
      return { decision, headers, denial: formatBody(decision, format), tracker: undefined }
    const llm = decision.llm
    if (includeStreamUsage && llm?.stream && typeof request.body === 'object' && request.body !== null) {
      // Without this flag OpenAI streams carry no usage, and the estimate could never be corrected.
      const patched = withStreamUsage(llm.body)
      if (patched !== llm.body) {
        Object.assign(request.body, { stream_options: patched.stream_options })
        // The client did not ask for the usage chunk, so it must not receive it.
        strip = true
      }
    }
    return { decision, headers, denial: undefined, tracker: trackResponse(decision, limiter, strip) }
  }

  /**
   * A body parser's raw bytes or text on an LLM path are parsed for the decision (the app's body
   * stays as it was); what does not parse to an object is left for the limiter to refuse.
   */
  const asDecided = (request: LimitRequest): LimitRequest => {
    const body = request.body
    if (typeof body !== 'string' && !(body instanceof Uint8Array)) return request
    if (llmRouteKind(request.method, request.path) === undefined) return request
    const text = typeof body === 'string' ? body : new TextDecoder().decode(body)
    const parsed = parseJsonText(text)
    return parsed.ok && typeof parsed.body === 'object' && parsed.body !== null
      ? { ...request, body: parsed.body }
      : request
  }

  return {
    limiter,
    maxBodyBytes,
    handle(request, marker, socketAddress) {
      warnings.proxyHeaderWithoutTrust(request, socketAddress)
      const decided = asDecided(request)
      const checked = limiter.checkNow(decided)
      return checked instanceof Promise
        ? checked.then((decision) => outcomeOf(decision, decided, marker))
        : outcomeOf(checked, decided, marker)
    },
    bodyError: coreBodyError,
    readMode(method, path, contentType) {
      return llmRouteKind(method, path) ?? (isJsonContentType(contentType) ? 'json' : undefined)
    },
    readBody(source, headers, mode) {
      const header = (name: string) => {
        const value = headers[name]
        return typeof value === 'string' ? value : undefined
      }
      return readJsonBody(
        source,
        header('content-type'),
        maxBodyBytes,
        header('content-length'),
        header('content-encoding'),
        mode,
      )
    },
  }
}

function coreBodyError(status: 400 | 413 | 415, message: string): ErrorResponse {
  const code = status === 413 ? 'request_too_large' : 'invalid_request'
  return {
    status,
    contentType: 'application/json',
    body: JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code } }),
  }
}
