import { parseResetDuration } from './parse-duration.js'

/** One rate-limited dimension as the server described it. */
export interface Dimension {
  /** Quota per window. */
  limit?: number
  /** What is left. */
  remaining?: number
  /** Ms from now until the quota is fully reset. */
  resetMs?: number
}

/** Every rate-limit fact found in one response, normalised. */
export interface RateLimitInfo {
  /** Request quota. */
  requests: Dimension
  /** Token quota (input + output). */
  tokens: Dimension
  /** Input-token quota (Anthropic). */
  inputTokens: Dimension
  /** Output-token quota (Anthropic). */
  outputTokens: Dimension
  /** How long the server asks the client to wait, in ms. */
  retryAfterMs?: number
  /** The server's explicit retry verdict (`x-should-retry`). */
  shouldRetry?: boolean
  /** Header families found: 'openai', 'anthropic', 'ietf', 'legacy', 'retry-after', 'gemini'. */
  sources: string[]
}

/** Headers in any common shape. */
export type HeaderSource = Headers | Record<string, string | string[] | number | undefined | null>

const MAX_VALUE = 1e15
const EPOCH_MS_FLOOR = 1e12

function reader(headers: HeaderSource): (name: string) => string | undefined {
  if (typeof (headers as Headers).get === 'function') {
    return (name) => (headers as Headers).get(name) ?? undefined
  }
  const lower = new Map<string, string>()
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (value === undefined || value === null) continue
    lower.set(key.toLowerCase(), Array.isArray(value) ? String(value[0]) : String(value))
  }
  return (name) => lower.get(name)
}

function number(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  if (!/^\d+(\.\d+)?$/.test(text)) return undefined
  const parsed = Number(text)
  return parsed <= MAX_VALUE ? parsed : undefined
}

/**
 * Parses every provider's rate-limit headers (OpenAI, Anthropic, IETF drafts 6/7/8/10, legacy
 * X-RateLimit-*, Retry-After, retry-after-ms, x-ms-retry-after-ms, x-should-retry) and Gemini's
 * RetryInfo in a 429 body into one shape. Garbage is ignored, never thrown on.
 * @example
 * const info = parseRateLimitHeaders(response.headers, await response.clone().json().catch(() => undefined))
 */
export function parseRateLimitHeaders(
  headers: HeaderSource,
  body?: unknown,
  now: number = Date.now(),
): RateLimitInfo {
  const get = reader(headers)
  const info: RateLimitInfo = { requests: {}, tokens: {}, inputTokens: {}, outputTokens: {}, sources: [] }
  const found = (source: string) => {
    if (!info.sources.includes(source)) info.sources.push(source)
  }

  for (const [suffix, dimension] of [
    ['requests', info.requests],
    ['tokens', info.tokens],
  ] as const) {
    const limit = number(get(`x-ratelimit-limit-${suffix}`))
    const remaining = number(get(`x-ratelimit-remaining-${suffix}`))
    const reset = get(`x-ratelimit-reset-${suffix}`)
    const resetMs = reset === undefined ? undefined : parseResetDuration(reset)
    if (limit !== undefined || remaining !== undefined || resetMs !== undefined) found('openai')
    Object.assign(dimension, defined({ limit, remaining, resetMs }))
  }

  const anthropic: [string, Dimension][] = [
    ['requests', info.requests],
    ['tokens', info.tokens],
    ['input-tokens', info.inputTokens],
    ['output-tokens', info.outputTokens],
  ]
  for (const [name, dimension] of anthropic) {
    const limit = number(get(`anthropic-ratelimit-${name}-limit`))
    const remaining = number(get(`anthropic-ratelimit-${name}-remaining`))
    const reset = get(`anthropic-ratelimit-${name}-reset`)
    const at = reset === undefined ? Number.NaN : Date.parse(reset)
    const resetMs = Number.isFinite(at) ? Math.max(0, at - now) : undefined
    if (limit === undefined && remaining === undefined && resetMs === undefined) continue
    found('anthropic')
    Object.assign(dimension, defined({ limit, remaining, resetMs }))
  }

  ietf(get, info, found)

  const legacyLimit = number(get('x-ratelimit-limit'))
  const legacyRemaining = number(get('x-ratelimit-remaining'))
  const legacyReset = number(get('x-ratelimit-reset'))
  if (legacyLimit !== undefined || legacyRemaining !== undefined || legacyReset !== undefined) {
    found('legacy')
    fill(info.requests, {
      limit: legacyLimit,
      remaining: legacyRemaining,
      resetMs: legacyReset === undefined ? undefined : resetFromLegacy(legacyReset, now),
    })
  }

  const retryMs = number(get('retry-after-ms')) ?? number(get('x-ms-retry-after-ms'))
  const retryAfter = get('retry-after')
  if (retryMs !== undefined) {
    info.retryAfterMs = retryMs
    found('retry-after')
  } else if (retryAfter !== undefined) {
    const seconds = number(retryAfter)
    const date = seconds === undefined ? Date.parse(retryAfter) : Number.NaN
    if (seconds !== undefined) info.retryAfterMs = seconds * 1000
    else if (Number.isFinite(date)) info.retryAfterMs = Math.max(0, date - now)
    if (info.retryAfterMs !== undefined) found('retry-after')
  }
  if (info.retryAfterMs === undefined) {
    const gemini = geminiRetryDelay(body)
    if (gemini !== undefined) {
      info.retryAfterMs = gemini
      found('gemini')
    }
  }

  const should = get('x-should-retry')?.trim().toLowerCase()
  if (should === 'true' || should === 'false') info.shouldRetry = should === 'true'
  return info
}

function defined(dimension: Dimension): Dimension {
  const out: Dimension = {}
  if (dimension.limit !== undefined) out.limit = dimension.limit
  if (dimension.remaining !== undefined) out.remaining = dimension.remaining
  if (dimension.resetMs !== undefined) out.resetMs = dimension.resetMs
  return out
}

function fill(dimension: Dimension, values: Dimension): void {
  for (const key of ['limit', 'remaining', 'resetMs'] as const)
    if (dimension[key] === undefined && values[key] !== undefined) dimension[key] = values[key]
}

/** X-RateLimit-Reset is epoch seconds (GitHub), epoch ms, or delta seconds; told apart by magnitude. */
function resetFromLegacy(value: number, now: number): number {
  if (value >= EPOCH_MS_FLOOR) return Math.max(0, value - now)
  if (value >= now / 1000 - 86_400 * 365) return Math.max(0, value * 1000 - now)
  return value * 1000
}

/** IETF RateLimit headers: draft-6 (separate fields), draft-7 (`limit=…, remaining=…, reset=…`), draft-8/10 (structured lists). */
function ietf(
  get: (name: string) => string | undefined,
  info: RateLimitInfo,
  found: (source: string) => void,
): void {
  const combined = get('ratelimit')
  const policy = get('ratelimit-policy')
  const target = info.requests
  if (combined !== undefined && /(^|[\s,])limit=/.test(combined)) {
    const field = (name: string) =>
      number(new RegExp(`(?:^|[\\s,;])${name}=(\\d+(?:\\.\\d+)?)`).exec(combined)?.[1])
    const reset = field('reset')
    fill(target, {
      limit: field('limit'),
      remaining: field('remaining'),
      resetMs: reset === undefined ? undefined : reset * 1000,
    })
    found('ietf')
    return
  }
  if (combined !== undefined && /;\s*r=/.test(combined)) {
    // Several policies: the one with the least left decides.
    const quotas = new Map<string, { q?: number; w?: number; qu?: string }>()
    for (const item of splitList(policy ?? '')) {
      const name = item.name
      // Draft-11 registers no token unit: llm-limit names it in its vendor parameter instead.
      const unit = item.params.qu ?? item.params['llm-limit-unit']
      quotas.set(name, { q: number(item.params.q), w: number(item.params.w), qu: unit })
    }
    let best: { remaining: number; resetMs?: number; limit?: number; tokens: boolean } | undefined
    for (const item of splitList(combined)) {
      const remaining = number(item.params.r)
      if (remaining === undefined) continue
      const reset = number(item.params.t)
      const quota = quotas.get(item.name)
      const entry = {
        remaining,
        resetMs: reset === undefined ? undefined : reset * 1000,
        limit: quota?.q,
        tokens: quota?.qu === 'tokens' || quota?.qu === 'input-tokens' || quota?.qu === 'output-tokens',
      }
      const dimension = entry.tokens ? info.tokens : info.requests
      if (!best || remaining < best.remaining) best = entry
      fill(dimension, entry)
    }
    if (best) found('ietf')
    return
  }
  const limit = number(get('ratelimit-limit'))
  const remaining = number(get('ratelimit-remaining'))
  const reset = number(get('ratelimit-reset'))
  if (limit !== undefined || remaining !== undefined || reset !== undefined) {
    found('ietf')
    fill(target, { limit, remaining, resetMs: reset === undefined ? undefined : reset * 1000 })
  }
}

/** Parses a structured-field list of `"name";key=value;…` items. */
function splitList(text: string): { name: string; params: Record<string, string> }[] {
  return text
    .split(',')
    .map((raw) => {
      const [head, ...rest] = raw.split(';').map((part) => part.trim())
      const params: Record<string, string> = {}
      for (const part of rest) {
        const eq = part.indexOf('=')
        if (eq > 0)
          params[part.slice(0, eq).trim()] = part
            .slice(eq + 1)
            .trim()
            .replace(/^"|"$/g, '')
      }
      return { name: head.replace(/^"|"$/g, ''), params }
    })
    .filter((item) => item.name !== '' || Object.keys(item.params).length > 0)
}

/** Gemini's 429 body: `error.details[]` with `@type` …RetryInfo and `retryDelay: "30s"`. */
function geminiRetryDelay(body: unknown): number | undefined {
  const details = (body as { error?: { details?: unknown } } | undefined)?.error?.details
  if (!Array.isArray(details)) return undefined
  for (const detail of details) {
    const record = detail as Record<string, unknown> | null
    if (typeof record?.['@type'] !== 'string' || !record['@type'].endsWith('RetryInfo')) continue
    if (typeof record.retryDelay === 'string') return parseResetDuration(record.retryDelay)
  }
  return undefined
}
