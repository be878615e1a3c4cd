const BRAND = Symbol.for('llm-limit.error')

/** Stable machine-readable codes of every error llm-limit throws; each is documented in docs/errors.md. */
export type ErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_STORE'
  | 'ERR_STORE_TIMEOUT'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_INVALID_USAGE'
  | 'ERR_BODY_TOO_LARGE'
  | 'ERR_BODY_INVALID'
  | 'ERR_CIRCUIT_OPEN'
  | 'ERR_QUEUE_FULL'
  | 'ERR_QUEUE_TIMEOUT'
  | 'ERR_ABORTED'

/** The one error class of llm-limit: thrown only for misuse and infrastructure, never for "over the limit". */
export class LlmLimitError extends Error {
  /** Stable code, safe to branch on. */
  readonly code: ErrorCode
  /** Brand checked by `isLlmLimitError`, so checks work across duplicate installs. */
  readonly [BRAND] = true

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'LlmLimitError'
    this.code = code
  }
}

/** True for any llm-limit error, even one created by another copy of the package. */
export function isLlmLimitError(value: unknown): value is LlmLimitError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
}

/** Throws an `ERR_CONFIG` error naming the option, what was wrong and how to fix it. */
export function configError(message: string): never {
  throw new LlmLimitError('ERR_CONFIG', message)
}

/**
 * A bad value as an error message shows it: JSON where JSON can say it (`NaN`, `5n` and symbols
 * as themselves), cut to 80 characters, so a 4 MB field never becomes a 4 MB message.
 */
export function shown(value: unknown): string {
  let text: string
  if (typeof value === 'string')
    return value.length > 60 ? `${JSON.stringify(value.slice(0, 60))}…` : JSON.stringify(value)
  if (typeof value === 'bigint') text = `${value}n`
  else if (typeof value === 'function') text = 'a function'
  else if (typeof value === 'number' || typeof value === 'symbol' || value === undefined) text = String(value)
  else {
    try {
      text = JSON.stringify(value) ?? String(value)
    } catch {
      text = Object.prototype.toString.call(value)
    }
  }
  return text.length > 80 ? `${text.slice(0, 79)}…` : text
}
