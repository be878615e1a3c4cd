const BRAND = Symbol.for('llm-limit.error')

/** Codes of the errors the client throws. */
export type ClientErrorCode =
  | 'ERR_CIRCUIT_OPEN'
  | 'ERR_QUEUE_FULL'
  | 'ERR_QUEUE_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_CONFIG'
  | 'ERR_UPSTREAM_QUOTA'

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

/**
 * The upstream's quota is spent for longer than the guard may wait (a daily limit), or a call is
 * larger than the whole quota: nothing was sent. `resetAt` says until when, if known.
 */
export class UpstreamQuotaError extends ClientError {
  /** When the quota resets (epoch ms), if known. */
  readonly resetAt: number | undefined
  /** The spent quota's name, as in `RateLimitInfo.policies` (`requests`, `anthropic:input-tokens`…). */
  readonly quota: string | undefined

  constructor(
    message: string,
    retryAfterMs: number | undefined,
    resetAt: number | undefined,
    quota: string | undefined,
  ) {
    super('ERR_UPSTREAM_QUOTA', message, retryAfterMs)
    this.resetAt = resetAt
    this.quota = quota
  }
}
