import type { LimitRequest } from '../types.js'

/** Codes of the warn-once checks for setups that are legal but almost surely wrong. */
export type WarningCode = 'WARN_TRUST_PROXY' | 'WARN_DOUBLE_COUNT' | 'WARN_CREATED_IN_HANDLER'

/** The `validations` option: false silences every check; an object silences single codes. @default true */
export type ValidationsOption = boolean | Partial<Record<WarningCode, boolean>>

/** Options of `createWarnings`. */
export interface WarningsOptions {
  /** Which checks run: false silences all; `{ WARN_TRUST_PROXY: false }` one. @default true */
  enabled?: ValidationsOption
  /** Where a warning goes. @default console.warn, as `[llm-limit] CODE: message` */
  log?: (code: WarningCode, message: string) => void
}

/** What one limiter counted: its rules or rule names, or, for callers without rule names, its own id. */
export type Counted = string | readonly (string | { readonly name: string })[]

const MESSAGES: Record<WarningCode, string> = {
  WARN_TRUST_PROXY:
    'Requests carry X-Forwarded-For, but the framework does not trust a proxy, so every client behind the proxy shares one IP and one limit. Enable trust proxy (Express `app.set("trust proxy", 1)`, Koa `app.proxy = true`, Hono `trustedProxies`).',
  WARN_DOUBLE_COUNT:
    'One request passed two llmLimit middlewares that count the same rule, so it is counted twice. Mount one limiter, or give the second its own rule names.',
  WARN_CREATED_IN_HANDLER:
    'An llmLimit limiter was created while a request was being handled; each one starts with empty counters, so it limits nothing. Create it once at startup.',
}

/** Requests currently inside an llmLimit middleware, process-wide (to spot limiters created in handlers). */
let inFlight = 0
/** Limiters created in this process; while there is one, the exact WeakMap tracking is not needed. */
let limiters = 0
/** Codes already logged: once per process, however many limiters there are. */
const warned = new Set<WarningCode>()
/** What each request object was counted for; weak, so a finished request leaves nothing behind. */
const counted = new WeakMap<object, Counted>()

/**
 * Adapters call `trackInFlight(1)` when a request enters the middleware and `trackInFlight(-1)`
 * exactly once when it is done (response finished or closed, or in a `finally`), so a limiter
 * constructed meanwhile can be reported as created inside a handler.
 */
export function trackInFlight(delta: 1 | -1): void {
  inFlight = Math.max(0, inFlight + delta)
}

/** The warn-once checks of one limiter, called by adapters and the middleware core. */
export interface Warnings {
  /** Warns when `x-forwarded-for` arrives but the trusted IP is still the socket peer (trust proxy off). */
  proxyHeaderWithoutTrust(request: LimitRequest, socketAddress?: string): void
  /** Records that `marker` (the framework's request object) was counted; warns when it already was for the same rule. */
  doubleCount(marker: object, counted: Counted): void
  /** Warns, and returns true, when called while a request is in flight; `createWarnings` calls it itself. */
  createdInHandler(): boolean
}

function names(value: Counted): readonly string[] {
  return typeof value === 'string'
    ? [value]
    : value.map((rule) => (typeof rule === 'string' ? rule : rule.name))
}

/**
 * Creates the warn-once checks, in the spirit of express-rate-limit's validations: each code is
 * logged once per process, says what is wrong and how to silence it. Create it with the limiter,
 * so that a limiter built inside a handler is reported at once.
 *
 * @example
 * const warnings = createWarnings({ enabled: { WARN_TRUST_PROXY: false } })
 */
export function createWarnings(
  options: WarningsOptions | ValidationsOption = true,
  log?: (code: WarningCode, message: string) => void,
): Warnings {
  const resolved: WarningsOptions =
    typeof options === 'object' && options !== null && ('enabled' in options || 'log' in options)
      ? (options as WarningsOptions)
      : { enabled: options as ValidationsOption }
  const enabledOption = resolved.enabled ?? true
  const write = resolved.log ?? log ?? defaultLog
  const enabled = (code: WarningCode) =>
    enabledOption !== false && (enabledOption === true || enabledOption[code] !== false)
  const warn = (code: WarningCode) => {
    if (!enabled(code) || warned.has(code)) return
    warned.add(code)
    write(
      code,
      `${MESSAGES[code]} Silence with \`validations: { ${code}: false }\` (or \`validations: false\`).`,
    )
  }
  let lastMarker: object | undefined
  limiters++
  const warnings: Warnings = {
    proxyHeaderWithoutTrust(request, socketAddress) {
      if (warned.has('WARN_TRUST_PROXY') || socketAddress === undefined) return
      if (request.headers['x-forwarded-for'] !== undefined && request.ip === socketAddress)
        warn('WARN_TRUST_PROXY')
    },
    doubleCount(marker, now) {
      if (warned.has('WARN_DOUBLE_COUNT') || !enabled('WARN_DOUBLE_COUNT')) return
      if (limiters < 2) {
        // A WeakMap entry per request costs about half a microsecond of GC work. With a single
        // limiter the only way to double count is mounting it twice, which shows as the same request
        // arriving again; remembering the last one catches that whenever no other request interleaves.
        if (marker === lastMarker) warn('WARN_DOUBLE_COUNT')
        lastMarker = marker
        return
      }
      lastMarker = undefined
      const before = counted.get(marker)
      // The common case, one limiter per request, stores a reference and allocates nothing.
      if (before === undefined) return void counted.set(marker, now)
      const seen = names(before)
      const current = names(now)
      if (current.some((name) => seen.includes(name))) warn('WARN_DOUBLE_COUNT')
      counted.set(
        marker,
        [...seen, ...current].map((name) => ({ name })),
      )
    },
    createdInHandler() {
      if (inFlight === 0) return false
      warn('WARN_CREATED_IN_HANDLER')
      return true
    },
  }
  warnings.createdInHandler()
  return warnings
}

function defaultLog(code: WarningCode, message: string): void {
  console.warn(`[llm-limit] ${code}: ${message}`)
}

/** Forgets which warnings were logged, how many limiters exist and how many requests are in flight (for tests). */
export function resetWarnings(): void {
  warned.clear()
  limiters = 0
  inFlight = 0
}
