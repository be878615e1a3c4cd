import { ClientError } from './errors.js'
import { functionOption, MAX_TIMER_MS, numberOption, optionsObject } from './options.js'
import { parseRateLimitHeaders, type RateLimitInfo, sane } from './parse-rate-limit-headers.js'
import { geminiRetryDelay } from './provider-body.js'
import { resendable, withRetryCount } from './resend.js'

/** What `onRetry` learns about each retry; frozen. */
export interface RetryContext {
  /** 1 for the first retry. */
  readonly attempt: number
  /** How long the client waits before it. */
  readonly delayMs: number
  /** Status of the response that caused it, if any. */
  readonly status: number | undefined
  /** Network error that caused it, if any. */
  readonly error: unknown
  /** The request URL. */
  readonly url: string
  /** The delay came from the server (Retry-After and friends, Gemini's RetryInfo), not from backoff. */
  readonly fromServer: boolean
}

/** Options of `backoffFetch()`. */
export interface BackoffFetchOptions {
  /** Most retries after the first attempt. @default 4 */
  retries?: number
  /** Statuses worth retrying. @default [408, 409, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 529] */
  retryStatuses?: readonly number[]
  /** First backoff delay when the server gives none. @default 500 */
  baseDelayMs?: number
  /** Largest backoff delay the client picks itself (server-given delays are bounded by `maxRetryAfterMs`). @default 60_000 */
  maxDelayMs?: number
  /**
   * Longest server-given delay (Retry-After, retry-after-ms, a reset, Gemini's RetryInfo) worth
   * waiting for: a longer one returns the response at once instead of sleeping. @default 60_000
   */
  maxRetryAfterMs?: number
  /** Total time budget across all attempts and waits. @default 120_000 */
  totalBudgetMs?: number
  /** Called before each retry. */
  onRetry?: (context: RetryContext) => void
  /** The fetch to wrap, called with the caller's own `(input, init)`. @default globalThis.fetch */
  fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>
  /** Waits; injectable for tests. @default setTimeout, abortable */
  sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>
  /** Random in [0, 1) for jitter. @default Math.random */
  random?: () => number
  /** Clock. @default Date.now */
  now?: () => number
}

const DEFAULT_STATUSES = [408, 409, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 529]
/** Error bodies worth reading for a delay are small; a larger one is not an error body. */
const MAX_ERROR_BODY = 1 << 20

function abortable(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted)
      return reject(signal.reason ?? new ClientError('ERR_ABORTED', 'The request was aborted.'))
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason ?? new ClientError('ERR_ABORTED', 'The request was aborted.'))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * A drop-in `fetch` that retries rate limits and transient failures the way providers ask. The
 * inner fetch gets the caller's own `(input, init)` (a `dispatcher` or any other option passes
 * through untouched); a server-given delay (Retry-After, retry-after-ms, x-ms-retry-after-ms, an
 * exhausted quota's reset, Gemini's `RetryInfo.retryDelay`) is used as given, or the response is
 * returned at once when it exceeds `maxRetryAfterMs`; otherwise exponential backoff with full
 * jitter. `x-should-retry` is obeyed and the SDKs' `x-stainless-retry-count` counts the attempts.
 * @example
 * const openai = new OpenAI({ fetch: backoffFetch(), maxRetries: 0 })
 */
export function backoffFetch(given?: BackoffFetchOptions): typeof fetch {
  const options = optionsObject(given, 'backoffFetch')
  const retries = numberOption(options.retries, 4, 'retries', { whole: true })
  const retryStatuses = options.retryStatuses ?? DEFAULT_STATUSES
  if (
    !Array.isArray(retryStatuses) ||
    !retryStatuses.every((status) => Number.isInteger(status) && status >= 100 && status <= 599)
  )
    throw new ClientError(
      'ERR_CONFIG',
      'Expected `retryStatuses` to be an array of HTTP statuses (100–599), like [429, 503].',
    )
  const statuses = new Set(retryStatuses)
  const base = numberOption(options.baseDelayMs, 500, 'baseDelayMs', { max: MAX_TIMER_MS })
  const maxDelay = numberOption(options.maxDelayMs, 60_000, 'maxDelayMs', { max: MAX_TIMER_MS })
  const maxRetryAfter = numberOption(options.maxRetryAfterMs, 60_000, 'maxRetryAfterMs', {
    max: MAX_TIMER_MS,
  })
  const budget = numberOption(options.totalBudgetMs, 120_000, 'totalBudgetMs', { max: MAX_TIMER_MS })
  functionOption(options.onRetry, 'onRetry')
  functionOption(options.fetch, 'fetch')
  const sleep = functionOption(options.sleep, 'sleep') ?? abortable
  const random = functionOption(options.random, 'random') ?? Math.random
  const now = functionOption(options.now, 'now') ?? Date.now

  return async function fetchWithBackoff(
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> {
    const inner = options.fetch ?? globalThis.fetch
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined)
    const url = input instanceof Request ? input.url : String(input)
    // A body that cannot be sent twice (a stream) gets one attempt; a Request keeps a spare clone.
    const again = resendable(input, init)
    const started = now()
    for (let attempt = 0; ; attempt++) {
      const [sendInput, sendInit] =
        attempt === 0 ? [input, init] : withRetryCount(again?.next(), init, attempt)
      const last = attempt >= retries || again === undefined
      let response: Response | undefined
      let error: unknown
      try {
        response = await (sendInit === undefined ? inner(sendInput) : inner(sendInput, sendInit))
      } catch (caught) {
        if (signal?.aborted || last) throw caught
        error = caught
      }
      if (response && (last || !shouldRetry(response, statuses))) return response
      const info = response ? parseRateLimitHeaders(response.headers, undefined, now()) : undefined
      const server = response ? await serverDelay(response, info as RateLimitInfo) : undefined
      if (response && server !== undefined && server > maxRetryAfter) return response
      const delay = server ?? Math.min(maxDelay, Math.floor(random() * base * 2 ** attempt))
      if (now() - started + delay > budget) {
        if (response) return response
        throw error
      }
      options.onRetry?.(
        Object.freeze({
          attempt: attempt + 1,
          delayMs: delay,
          status: response?.status,
          error,
          url,
          fromServer: server !== undefined,
        }),
      )
      // Free the connection of the response we are discarding.
      await response?.body?.cancel().catch(() => {})
      await sleep(delay, signal ?? undefined)
    }
  }
}

function shouldRetry(response: Response, statuses: ReadonlySet<number>): boolean {
  if (response.status < 400) return false
  const verdict = response.headers.get('x-should-retry')?.trim().toLowerCase()
  if (verdict === 'false') return false
  return verdict === 'true' || statuses.has(response.status)
}

/** The server's own delay: a header, else an exhausted quota's reset on a 429, else a provider's body. */
async function serverDelay(response: Response, info: RateLimitInfo): Promise<number | undefined> {
  if (info.retryAfterMs !== undefined) return info.retryAfterMs
  if (response.status === 429) {
    const exhausted = info.policies.filter((policy) => policy.remaining === 0 && policy.resetMs !== undefined)
    if (exhausted.length > 0) return Math.max(...exhausted.map((policy) => policy.resetMs as number))
  }
  if (response.status !== 429 && response.status !== 503) return undefined
  const type = response.headers.get('content-type') ?? ''
  const length = Number(response.headers.get('content-length') ?? 0)
  if (!type.includes('json') || length > MAX_ERROR_BODY) return undefined
  try {
    return sane(geminiRetryDelay(JSON.parse(await response.clone().text())))
  } catch {
    return undefined
  }
}
