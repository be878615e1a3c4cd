import { ClientError } from './errors.js'
import { functionOption, MAX_TIMER_MS, numberOption, optionsObject } from './options.js'
import { parseRateLimitHeaders } from './parse-rate-limit-headers.js'

/** The breaker's state. */
export type CircuitState = 'closed' | 'open' | 'half-open'

/** Options of `circuitBreaker()`. */
export interface CircuitBreakerOptions {
  /** Consecutive 429/5xx answers (or failures) that open the circuit. @default 5 */
  failureThreshold?: number
  /** Open when a response says fewer than this many requests are left. @default 0 (off) */
  minRemaining?: number
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
  /** Ms until an open circuit half-opens (0 otherwise). */
  readonly retryAfterMs: number
  /** Runs `call` through the breaker. */
  run(call: () => Promise<Response>): Promise<Response>
  /** A fetch that goes through the breaker. */
  fetch(fetcher?: typeof fetch): typeof fetch
}

/**
 * Opens after repeated 429/5xx answers or when the remaining quota falls under a threshold;
 * half-opens at the advertised reset (or after `cooldownMs`) and lets one trial call through;
 * closes on its success. While open, calls fail fast with ERR_CIRCUIT_OPEN or get the fallback.
 * @example
 * const breaker = circuitBreaker({ failureThreshold: 3 })
 * const openai = new OpenAI({ fetch: breaker.fetch(backoffFetch()) })
 */
export function circuitBreaker(given?: CircuitBreakerOptions): CircuitBreaker {
  const options = optionsObject(given, 'circuitBreaker')
  const threshold = numberOption(options.failureThreshold, 5, 'failureThreshold', { min: 1, whole: true })
  const minRemaining = numberOption(options.minRemaining, 0, 'minRemaining')
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
      return current() === 'open' ? Math.max(0, openUntil - now()) : 0
    },
    async run(call) {
      const at = current()
      if (at === 'open' || (at === 'half-open' && trial)) {
        if (options.fallback) return options.fallback()
        const wait = Math.max(0, openUntil - now())
        throw new ClientError(
          'ERR_CIRCUIT_OPEN',
          `The upstream is failing or out of quota; the circuit is open. Come back in ${Math.ceil(wait / 1000)}s.`,
          wait,
        )
      }
      if (at === 'half-open') trial = true
      let response: Response
      try {
        response = await call()
      } catch (error) {
        trial = false
        if (++failures >= threshold || at === 'half-open') open(cooldown)
        throw error
      }
      trial = false
      const info = parseRateLimitHeaders(response.headers)
      const reset = info.retryAfterMs ?? Math.max(info.requests.resetMs ?? 0, info.tokens.resetMs ?? 0)
      if (response.status === 429 || response.status >= 500) {
        if (++failures >= threshold || at === 'half-open') open(reset > 0 ? reset : cooldown)
        return response
      }
      failures = 0
      const remaining = info.requests.remaining
      if (minRemaining > 0 && remaining !== undefined && remaining < minRemaining)
        open(info.requests.resetMs || cooldown)
      else move('closed')
      return response
    },
    fetch(fetcher = globalThis.fetch) {
      return (input, init) => breaker.run(() => fetcher(input, init))
    },
  }
  return breaker
}
