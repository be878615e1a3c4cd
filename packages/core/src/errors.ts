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
