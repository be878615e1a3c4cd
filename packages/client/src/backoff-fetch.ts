import { ClientError } from './errors.js'
import { functionOption, MAX_TIMER_MS, numberOption, optionsObject } from './options.js'
import { parseRateLimitHeaders } from './parse-rate-limit-headers.js'

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
  /** The delay came from the server (Retry-After and friends), not from backoff. */
  readonly fromServer: boolean
}

/** Options of `backoffFetch()`. */
export interface BackoffFetchOptions {
  /** Most retries after the first attempt. @default 4 */
  retries?: number
  /** Statuses worth retrying. @default [408, 409, 429, 500, 502, 503, 504, 529] */
  retryStatuses?: readonly number[]
  /** First backoff delay when the server gives none. @default 500 */
  baseDelayMs?: number
  /** Largest single wait, server-given or not. @default 60_000 */
  maxDelayMs?: number
  /** Total time budget across all attempts and waits. @default 120_000 */
  totalBudgetMs?: number
  /** Called before each retry. */
  onRetry?: (context: RetryContext) => void
  /** The fetch to wrap. @default globalThis.fetch */
  fetch?: typeof fetch
  /** Waits; injectable for tests. @default setTimeout, abortable */
  sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>
  /** Random in [0, 1) for jitter. @default Math.random */
  random?: () => number
  /** Clock. @default Date.now */
  now?: () => number
}

const DEFAULT_STATUSES = [408, 409, 429, 500, 502, 503, 504, 529]

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
 * A drop-in `fetch` that retries rate limits and transient failures the way providers ask: a
 * server-given delay (Retry-After, retry-after-ms, x-ms-retry-after-ms, reset headers) is used as
 * given, otherwise exponential backoff with full jitter; `x-should-retry` is obeyed.
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
    const request = new Request(input, init)
    const signal = init?.signal ?? request.signal
    // Buffer the body once so every attempt can send it again; streams are sent once, never retried.
    const body = request.body === null ? undefined : await request.arrayBuffer()
    const started = now()
    for (let attempt = 0; ; attempt++) {
      // A consumed Request cannot be cloned, so each attempt is rebuilt from its parts.
      const send = new Request(request.url, {
        method: request.method,
        headers: request.headers,
        body,
        signal,
        redirect: request.redirect,
        credentials: request.credentials,
      })
      let response: Response | undefined
      let error: unknown
      try {
        response = await inner(send)
      } catch (caught) {
        if (signal?.aborted) throw caught
        error = caught
      }
      const info = response ? parseRateLimitHeaders(response.headers) : undefined
      const retryable = response
        ? (info?.shouldRetry ?? statuses.has(response.status)) && response.status >= 400
        : true
      if (!retryable || attempt >= retries || (response && info?.shouldRetry === false)) {
        if (response) return response
        throw error
      }
      const server = info?.retryAfterMs ?? serverReset(response, info)
      const delay = Math.min(maxDelay, server ?? Math.floor(random() * base * 2 ** attempt))
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
          url: request.url,
          fromServer: server !== undefined,
        }),
      )
      // Free the connection of the response we are discarding.
      await response?.body?.cancel().catch(() => {})
      await sleep(delay, signal ?? undefined)
    }
  }
}

/** On a 429 without Retry-After, the reset of an exhausted quota is the server's delay. */
function serverReset(
  response: Response | undefined,
  info: ReturnType<typeof parseRateLimitHeaders> | undefined,
): number | undefined {
  if (response?.status !== 429 || !info) return undefined
  const exhausted = [info.requests, info.tokens, info.inputTokens, info.outputTokens].filter(
    (d) => d.remaining === 0 && d.resetMs !== undefined,
  )
  return exhausted.length ? Math.max(...exhausted.map((d) => d.resetMs as number)) : undefined
}
