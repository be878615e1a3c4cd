import { ClientError } from './errors.js'
import { functionOption, MAX_TIMER_MS, numberOption, optionsObject } from './options.js'
import { parseRateLimitHeaders, type QuotaUnit, type RateLimitInfo } from './parse-rate-limit-headers.js'

/** The breaker's state. */
export type CircuitState = 'closed' | 'open' | 'half-open'

/** Options of `circuitBreaker()`. */
export interface CircuitBreakerOptions {
  /** Consecutive 429/5xx answers (or failures) that open the circuit. @default 5 */
  failureThreshold?: number
  /**
   * Open (until that quota's reset) when a response says less than this is left: a number applies
   * to every quota (requests and tokens), an object sets it per unit. @default 0 (off)
   */
  minRemaining?: number | Partial<Record<QuotaUnit, number>>
  /** What callers turned away while the half-open trial call runs are told to wait. @default 1_000 */
  halfOpenRetryMs?: number
  /** How long to stay open when the server gives no reset. @default 30_000 */
  cooldownMs?: number
  /** Answer calls with this while open, instead of failing fast. */
  fallback?: () => Response | Promise<Response>
  /** Called on every state change. */
  onStateChange?: (state: CircuitState, previous: CircuitState) => void
  /** Clock. @default Date.now */
  now?: () => number
}

/** A circuit breaker around calls that return a Response. */
export interface CircuitBreaker {
  /** Current state. */
  readonly state: CircuitState
  /** Ms until an open circuit half-opens, `halfOpenRetryMs` while a trial runs, else 0. */
  readonly retryAfterMs: number
  /** Runs `call` through the breaker; a failure after `signal` aborted is the caller's, not the upstream's. */
  run(call: () => Promise<Response>, signal?: AbortSignal | null): Promise<Response>
  /** A fetch that goes through the breaker. */
  fetch(fetcher?: typeof fetch): typeof fetch
}

/**
 * Opens after repeated 429/5xx answers or network failures (never for the caller's own aborts) or
 * when a remaining quota falls under a threshold; half-opens at the advertised reset of any
 * provider's quota (or after `cooldownMs`) and lets one trial call through; closes on its success.
 * While open, calls fail fast with ERR_CIRCUIT_OPEN and a real `retryAfterMs`, or get the fallback.
 * @example
 * const breaker = circuitBreaker({ failureThreshold: 3 })
 * const openai = new OpenAI({ fetch: breaker.fetch(backoffFetch()) })
 */
export function circuitBreaker(given?: CircuitBreakerOptions): CircuitBreaker {
  const options = optionsObject(given, 'circuitBreaker')
  const threshold = numberOption(options.failureThreshold, 5, 'failureThreshold', { min: 1, whole: true })
  const minRemaining = thresholds(options.minRemaining)
  const halfOpenWait = numberOption(options.halfOpenRetryMs, 1000, 'halfOpenRetryMs', {
    min: 1,
    max: MAX_TIMER_MS,
  })
  const cooldown = numberOption(options.cooldownMs, 30_000, 'cooldownMs', { max: MAX_TIMER_MS })
  functionOption(options.fallback, 'fallback')
  functionOption(options.onStateChange, 'onStateChange')
  const now = functionOption(options.now, 'now') ?? Date.now
  let state: CircuitState = 'closed'
  let failures = 0
  let openUntil = 0
  let trial = false

  const move = (next: CircuitState) => {
    if (next === state) return
    const previous = state
    state = next
    options.onStateChange?.(next, previous)
  }
  const open = (forMs: number) => {
    openUntil = now() + forMs
    trial = false
    move('open')
  }
  const current = (): CircuitState => {
    if (state === 'open' && now() >= openUntil) move('half-open')
    return state
  }

  const breaker: CircuitBreaker = {
    get state() {
      return current()
    },
    get retryAfterMs() {
      const at = current()
      if (at === 'open') return Math.max(0, openUntil - now())
      return at === 'half-open' && trial ? halfOpenWait : 0
    },
    async run(call, signal) {
      const at = current()
      if (at === 'open' || (at === 'half-open' && trial)) {
        if (options.fallback) return options.fallback()
        // During a trial nobody knows the answer yet: a real wait, never 0, keeps callers from spinning.
        const wait = at === 'open' ? Math.max(1, openUntil - now()) : halfOpenWait
        throw new ClientError(
          'ERR_CIRCUIT_OPEN',
          `The upstream is failing or out of quota; the circuit is ${at}. Come back in ${wait} ms.`,
          wait,
        )
      }
      if (at === 'half-open') trial = true
      let response: Response
      try {
        response = await call()
      } catch (error) {
        trial = false
        // The caller gave up (an abort that is not a timeout): nothing was learned about the upstream.
        if (!callerAborted(error, signal) && (++failures >= threshold || at === 'half-open')) open(cooldown)
        throw error
      }
      trial = false
      const info = parseRateLimitHeaders(response.headers, undefined, now())
      if (response.status === 429 || response.status >= 500) {
        if (++failures >= threshold || at === 'half-open') open(waitOf(response.status, info) ?? cooldown)
        return response
      }
      failures = 0
      const low = info.policies.filter(
        (policy) => policy.remaining !== undefined && policy.remaining < minRemaining[policy.unit],
      )
      if (low.length > 0) open(Math.max(...low.map((policy) => policy.resetMs ?? 0)) || cooldown)
      else move('closed')
      return response
    },
    fetch(fetcher = globalThis.fetch) {
      return (input, init) =>
        breaker.run(
          () => fetcher(input, init),
          init?.signal ?? (input instanceof Request ? input.signal : undefined),
        )
    },
  }
  return breaker
}

const UNITS: readonly QuotaUnit[] = ['requests', 'tokens', 'inputTokens', 'outputTokens']

function thresholds(value: CircuitBreakerOptions['minRemaining']): Record<QuotaUnit, number> {
  const out = {} as Record<QuotaUnit, number>
  const perUnit = typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined
  for (const unit of UNITS)
    out[unit] = perUnit
      ? numberOption(perUnit[unit], 0, `minRemaining.${unit}`)
      : numberOption(value, 0, 'minRemaining')
  return out
}

/** How long the upstream asked for: Retry-After, else on a 429 the latest reset of an exhausted quota. */
function waitOf(status: number, info: RateLimitInfo): number | undefined {
  if (info.retryAfterMs !== undefined && info.retryAfterMs > 0) return info.retryAfterMs
  if (status !== 429) return undefined
  const exhausted = info.policies.filter((policy) => policy.remaining === 0 && policy.resetMs !== undefined)
  const reset = Math.max(0, ...exhausted.map((policy) => policy.resetMs as number))
  return reset > 0 ? reset : undefined
}

/** An abort by the caller, as opposed to a timeout or a network failure. */
function callerAborted(error: unknown, signal: AbortSignal | null | undefined): boolean {
  const name = (value: unknown) =>
    typeof value === 'object' && value !== null ? (value as { name?: unknown }).name : undefined
  if (signal?.aborted) return name(signal.reason) !== 'TimeoutError'
  return name(error) === 'AbortError' || name(error) === 'APIUserAbortError'
}
