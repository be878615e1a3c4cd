const BRAND = Symbol.for('llm-limit.error')

/** Codes of the errors the client throws. */
export type ClientErrorCode =
  | 'ERR_CIRCUIT_OPEN'
  | 'ERR_QUEUE_FULL'
  | 'ERR_QUEUE_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_CONFIG'

/** An error of @llm-limit/client, recognised by `isLlmLimitError` from @llm-limit/core too. */
export class ClientError extends Error {
  /** Stable code, safe to branch on. */
  readonly code: ClientErrorCode
  /** When to come back, if known (ms from when the error was thrown). */
  readonly retryAfterMs: number | undefined
  /** Brand shared with @llm-limit/core's errors. */
  readonly [BRAND] = true

  constructor(code: ClientErrorCode, message: string, retryAfterMs?: number) {
    super(message)
    this.name = 'LlmLimitError'
    this.code = code
    this.retryAfterMs = retryAfterMs
  }
}
