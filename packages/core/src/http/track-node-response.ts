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
 * @hono/node-server all end in such a response, so one hook serves every adapter.
 */
export function trackNodeResponse(res: NodeResponse, tracker: ResponseTracker): void {
  const writeHead = res.writeHead as unknown as Writer
  const write = res.write as unknown as Writer
  const end = res.end as unknown as Writer
  let started = false
  let headContentType: string | undefined
  const start = () => {
    if (started) return
    started = true
    const type = res.getHeader('content-type') ?? headContentType
    tracker.headers(res.statusCode, type === undefined ? undefined : String(type))
  }
  const patched = res as unknown as Record<'writeHead' | 'write' | 'end', Writer>
  patched.writeHead = function (this: unknown, ...args: unknown[]) {
    // writeHead(status, headers) keeps its headers out of getHeader() unless setHeader() ran first.
    headContentType ??= contentTypeOf(args[1]) ?? contentTypeOf(args[2])
    const result = writeHead.apply(this, args)
    start()
    return result
  }
  patched.write = function (this: unknown, ...args: unknown[]) {
    start()
    const chunk = args[0]
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) tracker.chunk(chunk)
    return write.apply(this, args)
  }
  patched.end = function (this: unknown, ...args: unknown[]) {
    start()
    const chunk = args[0]
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) tracker.chunk(chunk)
    return end.apply(this, args)
  }
  res.once('finish', () => tracker.finish())
  res.once('close', () => {
    if (!res.writableFinished) tracker.abort()
  })
}

function contentTypeOf(headers: unknown): string | undefined {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return undefined
  for (const name in headers) {
    if (name.length === 12 && name.toLowerCase() === 'content-type')
      return String((headers as Record<string, unknown>)[name])
  }
  return undefined
}
