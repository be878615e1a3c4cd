import { ClientError } from './errors.js'
import { functionOption, numberOption, optionsObject } from './options.js'
import { parseRateLimitHeaders, type RateLimitInfo } from './parse-rate-limit-headers.js'

/** What the guard needs of a shared store: an llm-limit `Store` (memoryStore, redisStore) fits. */
export interface GuardStore {
  consume(
    checks: readonly {
      key: string
      group: string
      algorithm: 'token-bucket'
      limit: number
      burst: number
      windowMs: number
      cost: number
    }[],
    context: { requestId: string },
  ): Promise<{ allowed: boolean; results: { retryAfterMs: number }[] }>
}

/** Options of `upstreamGuard()`. */
export interface UpstreamGuardOptions {
  /** The provider's request quota per minute (learned from headers when absent). */
  requestsPerMinute?: number
  /** The provider's token quota per minute (learned from headers when absent). */
  tokensPerMinute?: number
  /** Share the pacing across processes through a store (e.g. redisStore). @default in-process */
  store?: GuardStore
  /** Key prefix in a shared store. @default 'upstream' */
  key?: string
  /** Clock. @default Date.now */
  now?: () => number
  /** Waits. @default setTimeout */
  sleep?: (ms: number) => Promise<void>
}

/** A client-side limiter for the application's own provider quota. */
export interface UpstreamGuard {
  /** Waits for room for `estimatedTokens`, runs `call`, and learns from the response's headers. */
  run(estimatedTokens: number, call: () => Promise<Response>): Promise<Response>
  /** A fetch that paces through the guard; `estimate` gives each request's tokens. @default 1 token */
  fetch(
    fetcher?: typeof fetch,
    estimate?: (input: string | URL | Request, init?: RequestInit) => number,
  ): typeof fetch
  /** The quotas in use (configured or learned). */
  readonly limits: { requestsPerMinute: number | undefined; tokensPerMinute: number | undefined }
}

const MINUTE = 60_000

/** One GCRA bucket: capacity per minute, refilled continuously, like the providers' own limiters. */
class Bucket {
  private tat = 0
  constructor(public capacity: number) {}

  /** Reserves `cost` now and returns how long to wait before using it. */
  reserve(cost: number, now: number): number {
    const interval = MINUTE / this.capacity
    const amount = Math.min(cost, this.capacity)
    const tat = Math.max(this.tat, now)
    this.tat = tat + amount * interval
    return Math.max(0, this.tat - this.capacity * interval - now)
  }

  /** The provider says only `remaining` is left until `resetMs`: never assume more. */
  sync(remaining: number, now: number): void {
    const interval = MINUTE / this.capacity
    const used = this.capacity - Math.min(this.capacity, remaining)
    this.tat = Math.max(this.tat, now + used * interval)
  }
}

/**
 * Paces calls to a provider so they stay under its requests- and tokens-per-minute quota, instead
 * of discovering the limit through 429s. Limits come from options or are learned from response
 * headers (x-ratelimit-*, anthropic-ratelimit-*), and the remaining budget the provider reports
 * is never exceeded.
 * @example
 * const guard = upstreamGuard({ tokensPerMinute: 200_000, requestsPerMinute: 500 })
 * const response = await guard.run(estimate, () => fetch(url, init))
 */
export function upstreamGuard(given?: UpstreamGuardOptions): UpstreamGuard {
  const options = optionsObject(given, 'upstreamGuard')
  numberOption(options.requestsPerMinute, 1, 'requestsPerMinute', { min: 1 })
  numberOption(options.tokensPerMinute, 1, 'tokensPerMinute', { min: 1 })
  if (options.store !== undefined && typeof options.store?.consume !== 'function')
    throw new ClientError(
      'ERR_CONFIG',
      'Expected `store` to be an llm-limit store, such as redisStore({ client }).',
    )
  if (options.key !== undefined && (typeof options.key !== 'string' || options.key === ''))
    throw new ClientError('ERR_CONFIG', 'Expected `key` to be a non-empty string naming the upstream.')
  const now = functionOption(options.now, 'now') ?? Date.now
  const sleep =
    functionOption(options.sleep, 'sleep') ??
    ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const key = options.key ?? 'upstream'
  let requests = options.requestsPerMinute ? new Bucket(options.requestsPerMinute) : undefined
  let tokens = options.tokensPerMinute ? new Bucket(options.tokensPerMinute) : undefined
  let sequence = 0

  const learn = (info: RateLimitInfo) => {
    const at = now()
    if (
      info.requests.limit &&
      !options.requestsPerMinute &&
      (!requests || requests.capacity !== info.requests.limit)
    )
      requests = new Bucket(info.requests.limit)
    if (info.tokens.limit && !options.tokensPerMinute && (!tokens || tokens.capacity !== info.tokens.limit))
      tokens = new Bucket(info.tokens.limit)
    if (info.requests.remaining !== undefined) requests?.sync(info.requests.remaining, at)
    if (info.tokens.remaining !== undefined) tokens?.sync(info.tokens.remaining, at)
  }

  const shared = async (cost: number) => {
    const store = options.store as GuardStore
    for (;;) {
      const checks = []
      if (requests)
        checks.push({
          key: `${key}:requests`,
          group: key,
          algorithm: 'token-bucket' as const,
          limit: requests.capacity,
          burst: requests.capacity,
          windowMs: MINUTE,
          cost: 1,
        })
      if (tokens)
        checks.push({
          key: `${key}:tokens`,
          group: key,
          algorithm: 'token-bucket' as const,
          limit: tokens.capacity,
          burst: tokens.capacity,
          windowMs: MINUTE,
          cost: Math.min(cost, tokens.capacity),
        })
      if (checks.length === 0) return
      const result = await store.consume(checks, { requestId: `${key}-${now()}-${++sequence}` })
      if (result.allowed) return
      await sleep(Math.max(1, ...result.results.map((r) => r.retryAfterMs)))
    }
  }

  const guard: UpstreamGuard = {
    get limits() {
      return { requestsPerMinute: requests?.capacity, tokensPerMinute: tokens?.capacity }
    },
    async run(estimatedTokens, call) {
      if (options.store) await shared(estimatedTokens)
      else {
        const at = now()
        const wait = Math.max(
          requests?.reserve(1, at) ?? 0,
          tokens?.reserve(Math.max(0, estimatedTokens), at) ?? 0,
        )
        if (wait > 0) await sleep(wait)
      }
      const response = await call()
      learn(parseRateLimitHeaders(response.headers, undefined, now()))
      return response
    },
    fetch(fetcher = globalThis.fetch, estimate = () => 1) {
      return (input, init) => guard.run(estimate(input, init), () => fetcher(input, init))
    },
  }
  return guard
}
