import { parseResetDuration } from './parse-duration.js'
import { geminiRetryDelay } from './provider-body.js'

/** One rate-limited dimension as the server described it. */
export interface Dimension {
  /** Quota per window. */
  limit?: number
  /** What is left. */
  remaining?: number
  /** Ms from now until the quota is fully reset. */
  resetMs?: number
}

/** What a quota counts. */
export type QuotaUnit = 'requests' | 'tokens' | 'inputTokens' | 'outputTokens'

/** One quota (window) the server reported, such as OpenAI's requests, Anthropic's input tokens or an IETF policy. */
export interface Policy extends Dimension {
  /** Where it came from: `requests`, `tokens-day`, `anthropic:input-tokens`, `ietf:"burst"`, `legacy`… */
  name: string
  /** What it counts. */
  unit: QuotaUnit
}

/** Every rate-limit fact found in one response, normalised. */
export interface RateLimitInfo {
  /** Request quota: the most restrictive request policy. */
  requests: Dimension
  /** Token quota (input + output): the most restrictive token policy. */
  tokens: Dimension
  /** Input-token quota (Anthropic). */
  inputTokens: Dimension
  /** Output-token quota (Anthropic). */
  outputTokens: Dimension
  /** Every quota reported, each on its own (a per-minute and a per-day request quota are two). */
  policies: Policy[]
  /** How long the server asks the client to wait, in ms. */
  retryAfterMs?: number
  /** The server's explicit retry verdict (`x-should-retry`). */
  shouldRetry?: boolean
  /** Header families found: 'openai', 'anthropic', 'ietf', 'legacy', 'retry-after', 'gemini'. */
  sources: string[]
}

/** Headers in any common shape. */
export type HeaderSource =
  | Headers
  | { get(name: string): string | null | undefined }
  | Record<string, string | readonly string[] | number | undefined | null>

const MAX_VALUE = 1e15
/** No provider window is longer than a year and a month; a longer wait is garbage, not advice. */
export const MAX_SANE_WAIT_MS = 400 * 86_400_000
const EPOCH_MS_FLOOR = 1e12
/** Epoch seconds of 2001-09-09: smaller values are delta seconds (31 years of them at most). */
const EPOCH_SECONDS_FLOOR = 1e9
const HTTP_DATE = /[A-Za-z]{3},\s*\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{2}:\d{2}:\d{2}\s+GMT/g

type Get = (name: string) => string | undefined

function reader(headers: HeaderSource | null | undefined): Get {
  if (headers === null || typeof headers !== 'object') return () => undefined
  const get = (headers as { get?: unknown }).get
  if (typeof get === 'function') {
    return (name) => {
      try {
        const value: unknown = get.call(headers, name)
        return typeof value === 'string' ? value : undefined
      } catch {
        return undefined
      }
    }
  }
  const lower = new Map<string, string>()
  for (const [key, value] of Object.entries(headers)) {
    // Node's IncomingHttpHeaders keep repeated fields as arrays; fetch joins them with ", ".
    const text = Array.isArray(value)
      ? value.filter((item) => typeof item === 'string' || typeof item === 'number').join(', ')
      : typeof value === 'string' || typeof value === 'number'
        ? String(value)
        : undefined
    if (text !== undefined) lower.set(key.toLowerCase(), text)
  }
  return (name) => lower.get(name)
}

/** The numbers of a (possibly repeated, comma-joined) header value; garbage items are skipped. */
function numbers(value: string | undefined): number[] {
  if (value === undefined || value.length > 256) return []
  const out: number[] = []
  for (const item of value.split(',')) {
    const text = item.trim()
    if (!/^\d+(\.\d+)?$/.test(text)) continue
    const parsed = Number(text)
    if (parsed <= MAX_VALUE) out.push(parsed)
  }
  return out
}

const least = (value: string | undefined) => pick(numbers(value), Math.min)
const most = (value: string | undefined) => pick(numbers(value), Math.max)

function pick(values: number[], choose: (...values: number[]) => number): number | undefined {
  return values.length === 0 ? undefined : choose(...values)
}

/** A wait in ms, kept only when it is sane: not negative (a reset in the past is now), not absurdly long. */
export function sane(ms: number | undefined): number | undefined {
  if (ms === undefined || !Number.isFinite(ms)) return undefined
  return ms > MAX_SANE_WAIT_MS ? undefined : Math.max(0, ms)
}

/** The longest of a list of OpenAI durations (`1s, 1s` when a proxy repeated the field). */
function durations(value: string | undefined): number | undefined {
  if (value === undefined || value.length > 256) return undefined
  const parsed = value.split(',').map((item) => sane(parseResetDuration(item)))
  return pick(
    parsed.filter((ms) => ms !== undefined),
    Math.max,
  )
}

/** The latest of a list of RFC 3339 instants, as ms from now. */
function instants(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.length > 256) return undefined
  const parsed = value.split(',').map((item) => sane(Date.parse(item.trim()) - now))
  return pick(
    parsed.filter((ms) => ms !== undefined),
    Math.max,
  )
}

/**
 * Parses every provider's rate-limit headers (OpenAI, Anthropic, Groq, Azure, Cerebras-style
 * `-day`/`-minute` quotas, IETF drafts 6/7/8/10, legacy X-RateLimit-*, Retry-After,
 * retry-after-ms, x-ms-retry-after-ms, x-should-retry) and Gemini's RetryInfo in a 429 body into
 * one shape. Never throws: garbage, `undefined` and `null` are ignored; repeated fields count at
 * their most restrictive; resets in the past are 0; waits over 400 days are dropped.
 * @example
 * const info = parseRateLimitHeaders(response.headers, await response.clone().json().catch(() => undefined))
 */
export function parseRateLimitHeaders(
  headers: HeaderSource | null | undefined,
  body?: unknown,
  now: number = Date.now(),
): RateLimitInfo {
  const info: RateLimitInfo = {
    requests: {},
    tokens: {},
    inputTokens: {},
    outputTokens: {},
    policies: [],
    sources: [],
  }
  try {
    collect(reader(headers), body, Number.isFinite(now) ? now : Date.now(), info)
  } catch {
    // A header getter that throws half-way: what was read so far stands.
  }
  for (const unit of ['requests', 'tokens', 'inputTokens', 'outputTokens'] as const) {
    let tightest: Policy | undefined
    for (const policy of info.policies)
      if (policy.unit === unit && (!tightest || tighter(policy, tightest))) tightest = policy
    if (tightest) info[unit] = defined(tightest)
  }
  return info
}

function collect(get: Get, body: unknown, now: number, info: RateLimitInfo): void {
  const found = (source: string) => {
    if (!info.sources.includes(source)) info.sources.push(source)
  }
  const add = (name: string, unit: QuotaUnit, dimension: Dimension, source: string) => {
    const values = defined(dimension)
    if (Object.keys(values).length === 0) return
    info.policies.push({ name, unit, ...values })
    found(source)
  }

  // OpenAI, Groq, Azure; Cerebras-style suffixes name their window.
  for (const [suffix, unit] of [
    ['requests', 'requests'],
    ['tokens', 'tokens'],
    ['requests-minute', 'requests'],
    ['requests-day', 'requests'],
    ['tokens-minute', 'tokens'],
    ['tokens-day', 'tokens'],
  ] as const) {
    add(
      suffix,
      unit,
      {
        limit: least(get(`x-ratelimit-limit-${suffix}`)),
        remaining: least(get(`x-ratelimit-remaining-${suffix}`)),
        resetMs: durations(get(`x-ratelimit-reset-${suffix}`)),
      },
      'openai',
    )
  }

  for (const [name, unit] of [
    ['requests', 'requests'],
    ['tokens', 'tokens'],
    ['input-tokens', 'inputTokens'],
    ['output-tokens', 'outputTokens'],
  ] as const) {
    add(
      `anthropic:${name}`,
      unit,
      {
        limit: least(get(`anthropic-ratelimit-${name}-limit`)),
        remaining: least(get(`anthropic-ratelimit-${name}-remaining`)),
        resetMs: instants(get(`anthropic-ratelimit-${name}-reset`), now),
      },
      'anthropic',
    )
  }

  for (const policy of ietf(get)) add(policy.name, policy.unit, policy, 'ietf')

  const legacyReset = most(get('x-ratelimit-reset'))
  add(
    'legacy',
    'requests',
    {
      limit: least(get('x-ratelimit-limit')),
      remaining: least(get('x-ratelimit-remaining')),
      resetMs: legacyReset === undefined ? undefined : resetFromLegacy(legacyReset, now),
    },
    'legacy',
  )

  const retryMs = sane(most(get('retry-after-ms')) ?? most(get('x-ms-retry-after-ms')))
  const retryAfter = retryAfterValue(get('retry-after'), now)
  if (retryMs !== undefined || retryAfter !== undefined) {
    info.retryAfterMs = retryMs ?? retryAfter
    found('retry-after')
  } else {
    const gemini = sane(geminiRetryDelay(body))
    if (gemini !== undefined) {
      info.retryAfterMs = gemini
      found('gemini')
    }
  }

  const should = get('x-should-retry')?.split(',')[0]?.trim().toLowerCase()
  if (should === 'true' || should === 'false') info.shouldRetry = should === 'true'
}

/** Retry-After as seconds or HTTP dates, possibly repeated by a proxy (`2, 2`): the longest. */
function retryAfterValue(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.length > 256) return undefined
  const waits: number[] = []
  for (const date of value.match(HTTP_DATE) ?? []) {
    const ms = sane(Date.parse(date) - now)
    if (ms !== undefined) waits.push(ms)
  }
  for (const seconds of numbers(value.replace(HTTP_DATE, ''))) {
    const ms = sane(seconds * 1000)
    if (ms !== undefined) waits.push(ms)
  }
  return pick(waits, Math.max)
}

/** Less left is tighter; with as much left, the later reset is. A policy without `remaining` is loosest. */
function tighter(a: Dimension, b: Dimension): boolean {
  const left = (d: Dimension) => d.remaining ?? Number.POSITIVE_INFINITY
  if (left(a) !== left(b)) return left(a) < left(b)
  return (a.resetMs ?? 0) > (b.resetMs ?? 0)
}

function defined(dimension: Dimension): Dimension {
  const out: Dimension = {}
  if (dimension.limit !== undefined) out.limit = dimension.limit
  if (dimension.remaining !== undefined) out.remaining = dimension.remaining
  if (dimension.resetMs !== undefined) out.resetMs = dimension.resetMs
  return out
}

/** X-RateLimit-Reset is epoch ms, epoch seconds (GitHub) or delta seconds, told apart by magnitude. */
function resetFromLegacy(value: number, now: number): number | undefined {
  if (value >= EPOCH_MS_FLOOR) return sane(value - now)
  if (value >= EPOCH_SECONDS_FLOOR) return sane(value * 1000 - now)
  return sane(value * 1000)
}

/** IETF RateLimit headers: draft-6 (separate fields), draft-7 (`limit=…, remaining=…, reset=…`), draft-8/10 (structured lists). */
function ietf(get: Get): Policy[] {
  const combined = get('ratelimit')
  if (combined !== undefined && combined.length <= 4096 && /(^|[\s,])limit=/.test(combined)) {
    const field = (name: string) =>
      least(new RegExp(`(?:^|[\\s,;])${name}=(\\d+(?:\\.\\d+)?)`).exec(combined)?.[1])
    const reset = field('reset')
    return [
      {
        name: 'ietf',
        unit: 'requests',
        ...defined({
          limit: field('limit'),
          remaining: field('remaining'),
          resetMs: reset === undefined ? undefined : sane(reset * 1000),
        }),
      },
    ]
  }
  if (combined !== undefined && combined.length <= 4096 && /;\s*r=/.test(combined)) {
    const quotas = new Map<string, { q?: number; qu?: string }>()
    // Draft-11 registers no token unit: llm-limit names it in its vendor parameter `llm-limit-unit`.
    for (const item of splitList(get('ratelimit-policy') ?? ''))
      quotas.set(item.name, { q: least(item.params.q), qu: item.params.qu ?? item.params['llm-limit-unit'] })
    const policies: Policy[] = []
    for (const item of splitList(combined)) {
      const remaining = least(item.params.r)
      if (remaining === undefined) continue
      const quota = quotas.get(item.name)
      const unit = ietfUnit(quota?.qu)
      // Concurrency and money quotas have no place in the request and token summaries.
      if (unit === undefined) continue
      const reset = least(item.params.t)
      policies.push({
        name: `ietf:${JSON.stringify(item.name)}`,
        unit,
        ...defined({
          limit: quota?.q,
          remaining,
          resetMs: reset === undefined ? undefined : sane(reset * 1000),
        }),
      })
    }
    return policies
  }
  const reset = most(get('ratelimit-reset'))
  const draft6: Policy[] = [
    {
      name: 'ietf',
      unit: 'requests',
      ...defined({
        limit: least(get('ratelimit-limit')),
        remaining: least(get('ratelimit-remaining')),
        resetMs: reset === undefined ? undefined : sane(reset * 1000),
      }),
    },
  ]
  return draft6.filter((policy) => Object.keys(policy).length > 2)
}

function ietfUnit(qu: string | undefined): QuotaUnit | undefined {
  if (qu === undefined || qu === 'requests') return 'requests'
  if (qu === 'tokens') return 'tokens'
  if (qu === 'input-tokens') return 'inputTokens'
  if (qu === 'output-tokens') return 'outputTokens'
  return undefined
}

/** Parses a structured-field list of `"name";key=value;…` items. */
function splitList(text: string): { name: string; params: Record<string, string> }[] {
  if (text.length > 4096) return []
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
