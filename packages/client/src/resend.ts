/** What can be sent again for a retry: the same input, or a fresh clone of a Request. */
export interface Resend {
  /** The input for the next attempt. */
  next(): string | URL | Request
}

const RETRY_COUNT = 'x-stainless-retry-count'

/** A body that can be sent any number of times; a stream or an async iterable can be sent once. */
function reusable(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof URLSearchParams ||
    body instanceof FormData
  )
}

/** How to send `(input, init)` again, or undefined when its body can only be sent once. */
export function resendable(input: string | URL | Request, init: RequestInit | undefined): Resend | undefined {
  if (init?.body !== undefined && init.body !== null) {
    // The init's body replaces the Request's, so only it must be sent again.
    return reusable(init.body)
      ? { next: () => (input instanceof Request ? input.clone() : input) }
      : undefined
  }
  if (!(input instanceof Request)) return { next: () => input }
  if (input.bodyUsed) return undefined
  // The caller's Request goes out first; a clone made before that keeps its body for a retry.
  let spare = input.clone()
  return {
    next() {
      const out = spare
      spare = out.clone()
      return out
    },
  }
}

/**
 * The arguments of retry number `attempt`: the init as the caller gave it, except that the
 * OpenAI and Anthropic SDKs' `x-stainless-retry-count`, when present, says which attempt this is.
 */
export function withRetryCount(
  input: string | URL | Request | undefined,
  init: RequestInit | undefined,
  attempt: number,
): [string | URL | Request, RequestInit | undefined] {
  const next = input as string | URL | Request
  const count = String(attempt)
  if (next instanceof Request && next.headers.has(RETRY_COUNT)) {
    try {
      next.headers.set(RETRY_COUNT, count)
    } catch {
      // Immutable headers: the count stays as the caller set it.
    }
  }
  const headers = init?.headers
  if (init === undefined || headers === undefined) return [next, init]
  if (headers instanceof Headers) {
    if (!headers.has(RETRY_COUNT)) return [next, init]
    const copy = new Headers(headers)
    copy.set(RETRY_COUNT, count)
    return [next, { ...init, headers: copy }]
  }
  if (Array.isArray(headers)) {
    if (!headers.some(([name]) => name.toLowerCase() === RETRY_COUNT)) return [next, init]
    const copy = headers.map(([name, value]): [string, string] =>
      name.toLowerCase() === RETRY_COUNT ? [name, count] : [name, value],
    )
    return [next, { ...init, headers: copy }]
  }
  const record = headers as Record<string, string>
  const key = Object.keys(record).find((name) => name.toLowerCase() === RETRY_COUNT)
  if (key === undefined) return [next, init]
  return [next, { ...init, headers: { ...record, [key]: count } }]
}
