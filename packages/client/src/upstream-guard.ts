import { ClientError, UpstreamQuotaError } from './errors.js'
import { functionOption, MAX_TIMER_MS, numberOption, optionsObject } from './options.js'
import { parseRateLimitHeaders, type QuotaUnit, type RateLimitInfo } from './parse-rate-limit-headers.js'
import { bodyUsage } from './provider-body.js'
import { type Costs, type Flight, QuotaBudget, RateBucket } from './quota-budget.js'

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
  /** Your request quota per minute, paced continuously; the provider's headers are obeyed besides. @default none */
  requestsPerMinute?: number
  /** Your token quota per minute, paced continuously; the provider's headers are obeyed besides. @default none */
  tokensPerMinute?: number
  /** Longest wait for a quota to reset; a longer one (a daily quota spent) fails fast with ERR_UPSTREAM_QUOTA. @default 60_000 */
  maxWaitMs?: number
  /** The provider's window where its headers tell no reset (Azure reports only what remains). @default 60_000 */
  windowMs?: number
  /** Share the per-minute pacing across processes through a store (e.g. redisStore). @default in-process */
  store?: GuardStore
  /** Key prefix in a shared store. @default 'upstream' */
  key?: string
  /** Clock. @default Date.now */
  now?: () => number
  /** Waits between tries of a shared store. @default setTimeout */
  sleep?: (ms: number) => Promise<void>
}

/** A call's estimated size: total tokens, or tokens by kind (Anthropic limits input and output apart). */
export type GuardEstimate = number | { tokens?: number; inputTokens?: number; outputTokens?: number }

/** One quota the guard has learned from the provider's headers. */
export interface QuotaSnapshot {
  /** The policy's name, as in `RateLimitInfo.policies`. */
  readonly name: string
  /** What it counts. */
  readonly unit: QuotaUnit
  /** The provider's limit, if it said. */
  readonly limit: number | undefined
  /** What the guard may still send before the reset; undefined while unknown. */
  readonly available: number | undefined
  /** When the window resets (epoch ms), if known. */
  readonly resetAt: number | undefined
}

/** A client-side limiter for the application's own provider quota. */
export interface UpstreamGuard {
  /** Waits for room for `estimate`, runs `call`, and learns from the response's headers and usage. */
  run(estimate: GuardEstimate, call: () => Promise<Response>, signal?: AbortSignal | null): Promise<Response>
  /** A fetch that paces through the guard; `estimate` gives each request's tokens. @default 1 token */
  fetch(
    fetcher?: typeof fetch,
    estimate?: (input: string | URL | Request, init?: RequestInit) => GuardEstimate,
  ): typeof fetch
  /** The per-minute quotas configured. */
  readonly limits: { requestsPerMinute: number | undefined; tokensPerMinute: number | undefined }
  /** The quotas learned from the provider's headers. */
  quotas(): QuotaSnapshot[]
}

interface Waiter {
  readonly costs: Costs
  readonly signal: AbortSignal | undefined
  readonly admit: (flight: Flight) => void
  readonly fail: (error: unknown) => void
}

/** Why the head of the line cannot go yet: until a time, or until an answer brings news. */
type Block = { until: number; quota?: QuotaBudget } | 'answer' | { never: QuotaBudget }

const MINUTE = 60_000
const MAX_QUOTAS = 32

function costsOf(estimate: GuardEstimate): Costs {
  if (typeof estimate === 'number') {
    const tokens = Number.isFinite(estimate) && estimate > 0 ? estimate : 0
    return { requests: 1, tokens, inputTokens: tokens, outputTokens: 0 }
  }
  const count = (value: unknown) =>
    typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0
  const input = count(estimate?.inputTokens)
  const output = count(estimate?.outputTokens)
  const tokens = estimate?.tokens === undefined ? input + output : count(estimate.tokens)
  return { requests: 1, tokens, inputTokens: input || tokens, outputTokens: output }
}

/**
 * Paces calls to a provider by what its headers say: a budget per reported quota (requests,
 * tokens, input and output tokens, per minute or per day) from `limit`/`remaining`/`reset`, spent
 * by each call's estimate as it leaves and corrected by the response; at a reset, as many waiting
 * calls go as the budget holds, in arrival order. Before the first answer one call goes alone to
 * learn the quotas. A wait longer than `maxWaitMs` (a daily quota spent) fails at once with
 * ERR_UPSTREAM_QUOTA, telling until when, and sends nothing.
 * @example
 * const guard = upstreamGuard({ maxWaitMs: 30_000 })
 * const openai = new OpenAI({ fetch: guard.fetch(backoffFetch()), maxRetries: 0 })
 */
export function upstreamGuard(given?: UpstreamGuardOptions): UpstreamGuard {
  const options = optionsObject(given, 'upstreamGuard')
  numberOption(options.requestsPerMinute, 1, 'requestsPerMinute', { min: 1 })
  numberOption(options.tokensPerMinute, 1, 'tokensPerMinute', { min: 1 })
  const maxWait = numberOption(options.maxWaitMs, 60_000, 'maxWaitMs', { max: MAX_TIMER_MS })
  const windowMs = numberOption(options.windowMs, MINUTE, 'windowMs', { min: 1, max: MAX_TIMER_MS })
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
  const requests = options.requestsPerMinute ? new RateBucket(options.requestsPerMinute, MINUTE) : undefined
  const tokens = options.tokensPerMinute ? new RateBucket(options.tokensPerMinute, MINUTE) : undefined
  const local = options.store === undefined
  const budgets = new Map<string, QuotaBudget>()
  const flights = new Set<Flight>()
  const waiters: Waiter[] = []
  // Until the first answer, nothing is known: one call goes alone, unless quotas were configured.
  let informed = requests !== undefined || tokens !== undefined
  let pausedUntil = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let timerAt = Number.POSITIVE_INFINITY
  let sequence = 0

  const inflight = (unit: QuotaUnit, except?: Flight) => {
    let total = 0
    for (const flight of flights) if (flight !== except) total += flight.costs[unit]
    return total
  }

  const blockOf = (costs: Costs, at: number): Block | undefined => {
    let until = pausedUntil > at ? pausedUntil : 0
    let quota: QuotaBudget | undefined
    if (!informed && flights.size > 0) return 'answer'
    if (local) {
      until = Math.max(until, at + (requests?.wait(1, at) ?? 0), at + (tokens?.wait(costs.tokens, at) ?? 0))
      if (until <= at) until = 0
    }
    let waitAnswer = false
    for (const budget of budgets.values()) {
      const cost = costs[budget.unit]
      if (cost === 0) continue
      budget.refresh(at, inflight(budget.unit))
      const whole = Math.max(budget.limit ?? 0, budget.floor)
      if (budget.limit !== undefined && cost > whole && budget.unit !== 'requests') return { never: budget }
      if (budget.available === undefined) {
        if (flights.size > 0) waitAnswer = true
        continue
      }
      if (budget.available >= Math.min(cost, whole || cost)) continue
      if (budget.resetAt === undefined) {
        // Nothing in flight will tell the reset: assume the fallback window from now.
        if (flights.size > 0) {
          waitAnswer = true
          continue
        }
        budget.resetAt = at + windowMs
      }
      if (budget.resetAt > until) {
        until = budget.resetAt
        quota = budget
      }
    }
    if (until > at) return { until, quota }
    return waitAnswer ? 'answer' : undefined
  }

  const wake = (at: number) => {
    if (timer !== undefined && timerAt <= at) return
    if (timer !== undefined) clearTimeout(timer)
    timerAt = at
    timer = setTimeout(
      () => {
        timer = undefined
        timerAt = Number.POSITIVE_INFINITY
        pump()
      },
      Math.max(0, at - now()),
    )
  }

  const admit = (waiter: Waiter, at: number) => {
    const flight: Flight = { costs: waiter.costs, epochs: new Map() }
    for (const budget of budgets.values()) {
      flight.epochs.set(budget, budget.epoch)
      if (budget.available !== undefined) budget.available -= waiter.costs[budget.unit]
    }
    if (local) {
      requests?.take(1, at)
      tokens?.take(waiter.costs.tokens, at)
    }
    flights.add(flight)
    waiter.admit(flight)
  }

  const pump = () => {
    while (waiters.length > 0) {
      const waiter = waiters[0]
      if (waiter.signal?.aborted) {
        waiters.shift()
        waiter.fail(waiter.signal.reason)
        continue
      }
      const at = now()
      const block = blockOf(waiter.costs, at)
      if (block === undefined) {
        waiters.shift()
        admit(waiter, at)
        continue
      }
      if (block === 'answer') return
      if ('never' in block) {
        waiters.shift()
        waiter.fail(tooLarge(block.never, waiter.costs))
        continue
      }
      if (block.until - at > maxWait) {
        // Every caller behind would wait as long: all fail now, none is sent.
        waiters.shift()
        waiter.fail(spent(block.quota, block.until, at, maxWait))
        continue
      }
      wake(block.until)
      return
    }
  }

  const land = (flight: Flight, response: Response | undefined) => {
    flights.delete(flight)
    if (response) {
      const at = now()
      informed = true
      const info = parseRateLimitHeaders(response.headers, undefined, at)
      learn(info, flight, at)
      if (response.status === 429) {
        const exhausted = info.policies.some(
          (policy) => policy.remaining === 0 && policy.resetMs !== undefined,
        )
        const pause = info.retryAfterMs ?? (exhausted ? 0 : 1000)
        pausedUntil = Math.max(pausedUntil, at + pause)
      }
      if (response.ok) correctFromUsage(response, flight)
    }
    pump()
  }

  const learn = (info: RateLimitInfo, flight: Flight, at: number) => {
    for (const policy of info.policies) {
      let budget = budgets.get(policy.name)
      if (!budget) {
        // A server naming a new policy on every answer must not grow the guard without end.
        if (policy.remaining === undefined || budgets.size >= MAX_QUOTAS) continue
        budget = new QuotaBudget(policy.name, policy.unit)
        budgets.set(policy.name, budget)
      }
      budget.refresh(at, inflight(budget.unit))
      const epoch = flight.epochs.get(budget)
      const stale = epoch !== undefined && epoch !== budget.epoch
      budget.observe(policy, at, flight.costs[budget.unit], inflight(budget.unit), stale)
    }
  }

  const correctFromUsage = (response: Response, flight: Flight) => {
    const estimated = flight.costs
    const charged = [...flight.epochs].filter(([budget]) => budget.unit !== 'requests')
    if (tokens === undefined && charged.length === 0) return
    if (!(response.headers.get('content-type') ?? '').includes('json')) return
    response
      .clone()
      .json()
      .then((body) => {
        const usage = bodyUsage(body)
        if (!usage) return
        const actual: Costs = {
          requests: 1,
          tokens: usage.inputTokens + usage.outputTokens,
          inputTokens: usage.inputTokens,
          outputTokens: usage.outputTokens,
        }
        for (const [budget, epoch] of charged)
          budget.correct(estimated[budget.unit] - actual[budget.unit], epoch)
        if (local) tokens?.correct(actual.tokens - estimated.tokens)
        pump()
      })
      .catch(() => {})
  }

  const shared = async (costs: Costs) => {
    const store = options.store as GuardStore
    const checks = []
    const bucket = (name: string, capacity: number, cost: number) => ({
      key: `${key}:${name}`,
      group: key,
      algorithm: 'token-bucket' as const,
      limit: capacity,
      burst: capacity,
      windowMs: MINUTE,
      cost: Math.min(cost, capacity),
    })
    if (requests) checks.push(bucket('requests', requests.capacity, 1))
    if (tokens && costs.tokens > 0) checks.push(bucket('tokens', tokens.capacity, costs.tokens))
    if (checks.length === 0) return
    for (;;) {
      const result = await store.consume(checks, { requestId: `${key}-${now()}-${++sequence}` })
      if (result.allowed) return
      const wait = Math.max(1, ...result.results.map((r) => r.retryAfterMs))
      if (wait > maxWait) throw spent(undefined, now() + wait, now(), maxWait)
      await sleep(wait)
    }
  }

  const guard: UpstreamGuard = {
    get limits() {
      return { requestsPerMinute: requests?.capacity, tokensPerMinute: tokens?.capacity }
    },
    quotas() {
      return [...budgets.values()].map((budget) => ({
        name: budget.name,
        unit: budget.unit,
        limit: budget.limit,
        available: budget.available,
        resetAt: budget.resetAt,
      }))
    },
    async run(estimate, call, signal) {
      const costs = costsOf(estimate)
      if (!local) await shared(costs)
      const flight = await new Promise<Flight>((admitted, fail) => {
        if (signal?.aborted) return fail(signal.reason)
        const waiter: Waiter = { costs, signal: signal ?? undefined, admit: admitted, fail }
        waiters.push(waiter)
        signal?.addEventListener(
          'abort',
          () => {
            const index = waiters.indexOf(waiter)
            if (index < 0) return
            waiters.splice(index, 1)
            fail(signal.reason)
            pump()
          },
          { once: true },
        )
        pump()
      })
      let response: Response | undefined
      try {
        response = await call()
        return response
      } finally {
        land(flight, response)
      }
    },
    fetch(fetcher = globalThis.fetch, estimate = () => 1) {
      return (input, init) =>
        guard.run(
          estimate(input, init),
          () => fetcher(input, init),
          init?.signal ?? (input instanceof Request ? input.signal : undefined),
        )
    },
  }
  return guard
}

function spent(
  quota: QuotaBudget | undefined,
  until: number,
  at: number,
  maxWait: number,
): UpstreamQuotaError {
  const what = quota ? `${quota.unit} quota "${quota.name}"` : 'quota'
  return new UpstreamQuotaError(
    `The upstream's ${what} is spent until ${new Date(until).toISOString()} (${Math.ceil((until - at) / 1000)} s), longer than maxWaitMs (${maxWait} ms); nothing was sent. Retry after the reset, or raise maxWaitMs to wait for it.`,
    until - at,
    until,
    quota?.name,
  )
}

function tooLarge(quota: QuotaBudget, costs: Costs): UpstreamQuotaError {
  return new UpstreamQuotaError(
    `This call's estimate of ${costs[quota.unit]} ${quota.unit} is more than the upstream's whole quota "${quota.name}" of ${quota.limit}; it can never be sent. Split the request or lower its max tokens.`,
    undefined,
    undefined,
    quota.name,
  )
}
