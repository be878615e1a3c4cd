import type { ResponseTracker } from './response-tracker.js'

/** The part of Node's `ServerResponse` (HTTP/1 or HTTP/2 compatibility API) the tracker hooks into. */
export interface NodeResponse {
  statusCode: number
  readonly writableFinished: boolean
  getHeader(name: string): number | string | readonly string[] | undefined
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
  let headContentType: string | undefined
  let headEncoding: string | undefined
  const start = () => {
    if (started) return
    started = true
    const type = res.getHeader('content-type') ?? headContentType
    const encoding = res.getHeader('content-encoding') ?? headEncoding
    tracker.headers(
      res.statusCode,
      type === undefined ? undefined : String(type),
      encoding === undefined ? undefined : String(encoding),
    )
  }
  const patched = res as unknown as Record<'writeHead' | 'write' | 'end', Writer>
  patched.writeHead = function (this: unknown, ...args: unknown[]) {
    // writeHead(status, headers) keeps its headers out of getHeader() unless setHeader() ran first.
    headContentType ??= headerOf(args[1], 'content-type') ?? headerOf(args[2], 'content-type')
    headEncoding ??= headerOf(args[1], 'content-encoding') ?? headerOf(args[2], 'content-encoding')
    const result = writeHead.apply(this, args)
    start()
    return result
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
    start()
    const chunk = args[0]
    const data = typeof chunk === 'string' || chunk instanceof Uint8Array ? chunk : undefined
    if (data !== undefined) tracker.chunk(data)
    const filter = tracker.filter
    if (filter !== undefined) {
      const rest = filter.end(data)
      if (data !== undefined) {
        args[0] = rest
        if (typeof args[1] === 'string') args[1] = undefined
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
