import type { ErrorResponse } from './format-body.js'
import type { ResponseTracker } from './response-tracker.js'

/**
 * The chunks of a web stream; stopping early cancels it without waiting, because cancelling one
 * branch of a cloned (tee'd) body only settles once the other branch is cancelled too.
 */
export function webStreamChunks(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = stream.getReader()
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => reader.read() as Promise<IteratorResult<Uint8Array>>,
      return: () => {
        reader.cancel().catch(() => {})
        return Promise.resolve({ done: true as const, value: undefined })
      },
    }),
  }
}

/** The fetch `Response` of an error answer, with the rate-limit headers. */
export function errorWebResponse(denial: ErrorResponse, headers: Record<string, string>): Response {
  return new Response(denial.body, {
    status: denial.status,
    headers: { ...headers, 'content-type': `${denial.contentType}; charset=utf-8` },
  })
}

/**
 * Adds the rate-limit headers to a fetch `Response` and tees its body into the tracker. Headers
 * are set in place when possible; a new response is returned when the body must be teed or the
 * headers are immutable (a `fetch()` result). The new one is built from an explicit init, because
 * @hono/node-server's lightweight Response drops headers set on a response it copies.
 */
export function trackWebResponse(
  res: Response,
  headers: Record<string, string>,
  tracker: ResponseTracker | undefined,
): Response {
  if (!tracker) {
    try {
      const target = res.headers
      for (const name in headers) target.set(name, headers[name])
      return res
    } catch {
      // Immutable headers: fall through and rebuild.
    }
  }
  let body = res.body
  if (tracker) {
    const type = res.headers.get('content-type') ?? undefined
    tracker.headers(res.status, type, res.headers.get('content-encoding') ?? undefined)
    if (body) body = tee(body, tracker)
    else tracker.finish()
  }
  const merged = new Headers(res.headers)
  for (const name in headers) merged.set(name, headers[name])
  // The usage chunk is taken out of the body, so its declared length no longer holds.
  if (tracker?.filter !== undefined) merged.delete('content-length')
  return new Response(body, { status: res.status, statusText: res.statusText, headers: merged })
}

function tee(
  body: ReadableStream<Uint8Array>,
  tracker: ResponseTracker,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  const reader = body.getReader()
  const encoder = new TextEncoder()
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      try {
        // A pull must enqueue or close, or the stream stalls: read on while the filter holds everything back.
        for (;;) {
          const { done, value } = await reader.read()
          const filter = tracker.filter
          if (done) {
            const rest = filter?.end()
            if (rest) controller.enqueue(encoder.encode(rest))
            tracker.finish()
            controller.close()
            return
          }
          tracker.chunk(value)
          if (filter === undefined) {
            controller.enqueue(value as Uint8Array<ArrayBuffer>)
            return
          }
          const out = filter.write(value)
          if (out !== '') {
            controller.enqueue(encoder.encode(out))
            return
          }
        }
      } catch (error) {
        tracker.abort()
        controller.error(error)
      }
    },
    cancel(reason) {
      tracker.abort()
      return reader.cancel(reason)
    },
  })
}
