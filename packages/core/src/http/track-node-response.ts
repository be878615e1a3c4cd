import type { ResponseTracker } from './response-tracker.js'

/** The part of Node's `ServerResponse` (HTTP/1 or HTTP/2 compatibility API) the tracker hooks into. */
export interface NodeResponse {
  statusCode: number
  readonly writableFinished: boolean
  readonly headersSent: boolean
  removeHeader(name: string): unknown
  getHeader(name: string): number | string | readonly string[] | undefined
  setHeader(name: string, value: number | string): unknown
  writeHead(...args: never[]): unknown
  write(...args: never[]): boolean
  end(...args: never[]): unknown
  once(event: 'finish' | 'close', listener: () => void): unknown
}

type Writer = (...args: unknown[]) => unknown

/**
 * Tees a Node response into the tracker: the status and content type when the head is written,
 * every body chunk as it is written, then finish or abort exactly once. Express, Koa and Hono on
 * @hono/node-server all end in such a response, so one hook serves every adapter. Only a 'finish'
 * event is a finished response: a response destroyed and then ended (a piped stream that failed)
 * reports `writableFinished` without ever sending its end, and is settled as cut at 'close'.
 */
export function trackNodeResponse(res: NodeResponse, tracker: ResponseTracker): void {
  const writeHead = res.writeHead as unknown as Writer
  const write = res.write as unknown as Writer
  const end = res.end as unknown as Writer
  let started = false
  /**
   * Tells the tracker the head. `whole`: the body comes in this one `end()` call. When the usage
   * chunk is to be taken out, a declared length that can no longer hold is dropped (the body goes
   * out chunked), or declared again for a whole body in `end()`.
   */
  const start = (
    whole = false,
    status = res.statusCode,
    head?: Record<string, unknown>,
    rawLength = false,
  ) => {
    if (started) return
    started = true
    const type = headerOf(head, 'content-type') ?? res.getHeader('content-type')
    const encoding = headerOf(head, 'content-encoding') ?? res.getHeader('content-encoding')
    tracker.headers(
      status,
      type === undefined ? undefined : String(type),
      encoding === undefined ? undefined : String(encoding),
      rawLength || (res.headersSent && res.getHeader('content-length') !== undefined),
    )
    if (tracker.filter === undefined || whole) return
    if (head !== undefined)
      for (const name in head) if (name.toLowerCase() === 'content-length') delete head[name]
    if (!res.headersSent && res.getHeader('content-length') !== undefined) res.removeHeader('content-length')
  }
  const patched = res as unknown as Record<'writeHead' | 'write' | 'end', Writer>
  patched.writeHead = function (this: unknown, ...args: unknown[]) {
    // writeHead(status, [message,] headers) keeps its headers out of getHeader(): read them here,
    // from a copy that can lose its Content-Length. Raw header arrays are read through getHeader().
    const at = typeof args[1] === 'object' && args[1] !== null ? 1 : 2
    const given = args[at]
    let head: Record<string, unknown> | undefined
    if (typeof given === 'object' && given !== null && !Array.isArray(given)) {
      head = { ...(given as Record<string, unknown>) }
      args[at] = head
    }
    const rawLength =
      Array.isArray(given) &&
      given.some((value, i) => i % 2 === 0 && String(value).toLowerCase() === 'content-length')
    start(false, typeof args[0] === 'number' ? args[0] : res.statusCode, head, rawLength)
    return writeHead.apply(this, args)
  }
  patched.write = function (this: unknown, ...args: unknown[]) {
    start()
    const chunk = args[0]
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) {
      tracker.chunk(chunk)
      const filter = tracker.filter
      if (filter !== undefined) {
        args[0] = filter.write(chunk)
        if (typeof args[1] === 'string') args[1] = undefined
      }
    }
    return write.apply(this, args)
  }
  patched.end = function (this: unknown, ...args: unknown[]) {
    const whole = !started && !res.headersSent
    start(whole)
    const chunk = args[0]
    const data = typeof chunk === 'string' || chunk instanceof Uint8Array ? chunk : undefined
    if (data !== undefined) tracker.chunk(data)
    const filter = tracker.filter
    if (filter !== undefined) {
      const rest = filter.end(data)
      if (data !== undefined) {
        args[0] = rest
        if (typeof args[1] === 'string') args[1] = undefined
        // `res.send(events)` declared the length of what it was given; declare what goes out.
        if (whole && res.getHeader('content-length') !== undefined)
          res.setHeader('content-length', Buffer.byteLength(rest))
      } else if (rest !== '') write.call(this, rest)
    }
    return end.apply(this, args)
  }
  let finished = false
  res.once('finish', () => {
    finished = true
    tracker.finish()
  })
  res.once('close', () => {
    if (!finished) tracker.abort()
  })
}

function headerOf(headers: unknown, wanted: string): string | undefined {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return undefined
  for (const name in headers) {
    if (name.length === wanted.length && name.toLowerCase() === wanted)
      return String((headers as Record<string, unknown>)[name])
  }
  return undefined
}
