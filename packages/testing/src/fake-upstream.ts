import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type Ending,
  type FakeAnswer,
  type FakeAnswerOptions,
  type FakeApi,
  fakeAnswers,
  openAiError,
} from './fake-answers.js'

/** One request a fake upstream received. */
export interface FakeCall {
  /** Which API answered it. */
  api: FakeApi
  /** The request path. */
  path: string
  /** The parsed JSON body (undefined when it was not JSON). */
  body: unknown
  /** How the answer ended. */
  ending: Ending
}

/** Options of `fakeUpstream()`: the answers' defaults, overridden per call by `next()`. */
export interface FakeUpstreamOptions extends FakeAnswerOptions {}

/** An offline stand-in for OpenAI and Anthropic: `fetch` for SDKs, `listen()` for proxies. */
export interface FakeUpstream {
  /** Every request answered so far, oldest first. */
  readonly calls: readonly FakeCall[]
  /** Answers the next request with these options instead of the defaults (queued, one per call). */
  next(options: FakeAnswerOptions): void
  /** The answer a request gets, without the network: route by path, build the body. */
  answer(path: string, body: unknown): FakeAnswer
  /** A `fetch` that never leaves the process; give it to an SDK (`new OpenAI({ fetch })`). */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>
  /** Serves on a free 127.0.0.1 port; `url` is the base, e.g. `http://127.0.0.1:41234/v1`. */
  listen(): Promise<{ url: string; close(): Promise<void> }>
}

const ROUTES: [suffix: string, api: FakeApi][] = [
  ['/chat/completions', 'openai-chat'],
  ['/responses', 'openai-responses'],
  ['/messages', 'anthropic-messages'],
]

const encoder = new TextEncoder()

/**
 * Creates a fake upstream that answers `/v1/chat/completions`, `/v1/responses` and `/v1/messages`
 * like OpenAI and Anthropic do, JSON or streamed, with real `usage`; endings are chosen per call.
 * @example
 * const upstream = fakeUpstream()
 * upstream.next({ ending: 'aborted' })
 * const openai = new OpenAI({ apiKey: 'test', baseURL: 'http://fake/v1', fetch: upstream.fetch })
 */
export function fakeUpstream(defaults: FakeUpstreamOptions = {}): FakeUpstream {
  const calls: FakeCall[] = []
  const queued: FakeAnswerOptions[] = []
  const answer = (path: string, body: unknown): FakeAnswer => {
    const pathname = path.split('?')[0] ?? ''
    const route = ROUTES.find(([suffix]) => pathname.endsWith(suffix))
    if (!route)
      return openAiError(
        404,
        `Unknown route ${pathname}; the fake upstream serves POST /v1/chat/completions, /v1/responses and /v1/messages.`,
        'invalid_request_error',
        'unknown_url',
      )
    const options = { ...defaults, ...queued.shift() }
    calls.push({ api: route[1], path: pathname, body, ending: options.ending ?? 'complete' })
    return fakeAnswers[route[1]](body, options)
  }
  return {
    calls,
    next: (options) => {
      queued.push({ ...options })
    },
    answer,
    async fetch(input, init) {
      const request = new Request(input, init)
      const answered = answer(new URL(request.url).pathname, parse(await request.text()))
      return webResponse(answered, request.signal)
    },
    listen: () => listen(answer),
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The pieces of an answer as sent, and how many of them go out before the cut. */
function pieces(answer: FakeAnswer): {
  status: number
  headers: Record<string, string>
  chunks: string[]
  cut: boolean
} {
  const cut = answer.abortAfter !== undefined
  if (answer.kind === 'sse') {
    const headers = { 'content-type': 'text/event-stream', 'x-request-id': 'req_fake' }
    return { status: 200, headers, chunks: answer.events.slice(0, answer.abortAfter), cut }
  }
  const headers = { 'content-type': 'application/json', 'x-request-id': 'req_fake', ...answer.headers }
  const text = JSON.stringify(answer.body)
  return { status: answer.status, headers, chunks: [text.slice(0, answer.abortAfter)], cut }
}

function webResponse(answer: FakeAnswer, signal: AbortSignal): Response {
  const { status, headers, chunks, cut } = pieces(answer)
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk))
      if (cut) controller.error(new TypeError('terminated: the fake upstream cut the connection mid-body'))
      else controller.close()
    },
  })
  signal.throwIfAborted()
  return new Response(body, { status, headers })
}

function listen(
  answer: (path: string, body: unknown) => FakeAnswer,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      raw += chunk
    })
    req.on('end', () => {
      const { status, headers, chunks, cut } = pieces(answer(req.url ?? '/', parse(raw)))
      res.writeHead(status, headers)
      if (!cut) return res.end(chunks.join(''))
      // Flush what was sent, then drop the socket: the client sees a body that never finished.
      res.write(chunks.join(''), () => res.destroy())
    })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}/v1`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          }),
      })
    })
  })
}
