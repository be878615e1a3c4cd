import { pipeline, Readable, type Transform } from 'node:stream'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'

/** The result of reading a request body: parsed JSON, nothing to parse, or an error to answer with. */
export type BodyResult = { ok: true; body: unknown } | { ok: false; status: 400 | 413 | 415; message: string }

/** Decoders for the `Content-Encoding`s clients send (body parsers such as `express.json()` take the same). */
const DECODERS: Readonly<Record<string, () => Transform>> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
}

/** True for `application/json` and `+json` media types. */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false
  const type = contentType.split(';', 1)[0].trim().toLowerCase()
  return type === 'application/json' || type.endsWith('+json')
}

/** How a body is read: JSON only, or any content type because the path is an LLM API's (see `llmRouteKind`). */
export type ReadMode = 'json' | 'llm' | 'maybe'

/** Most bytes of an oversized upload discarded after its 413, so the client reads the answer instead of a reset. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024

/**
 * Reads a JSON body from a Node stream or any async iterable of chunks, stopping at `maxBytes`,
 * so a huge upload cannot exhaust memory. A gzip, deflate or Brotli body is decoded, and
 * `maxBytes` bounds the decoded size, so a small compressed bomb is refused too. Non-JSON
 * bodies are left unread, unless `mode` says the path is an LLM API's: then any content type is
 * read, and text that is not JSON is a 400 on an LLM-only path (`'llm'`) or handed on as a
 * string (`'maybe'`). An oversized Node stream is drained, not destroyed, so its 413 arrives.
 */
export async function readJsonBody(
  source: AsyncIterable<Uint8Array | string>,
  contentType: string | undefined,
  maxBytes: number,
  contentLength?: string,
  contentEncoding?: string,
  mode: ReadMode = 'json',
): Promise<BodyResult> {
  const json = isJsonContentType(contentType)
  if (!json && (mode === 'json' || (mode === 'maybe' && isMultipart(contentType))))
    return { ok: true, body: undefined }
  // A declared size over the limit is refused before a single byte is read.
  if (contentLength !== undefined && Number(contentLength) > maxBytes) return drained(source, maxBytes)
  const coding = contentEncoding?.trim().toLowerCase() || 'identity'
  const decoder = coding === 'identity' ? undefined : DECODERS[coding]
  if (coding !== 'identity' && decoder === undefined) {
    return {
      ok: false,
      status: 415,
      message: `Content-Encoding '${coding.slice(0, 40)}' is not supported; send the body as is, or as gzip, deflate or br.`,
    }
  }
  // pipeline, not pipe: a client that goes away mid-body must end the decoder too, or the read hangs.
  const decoded = decoder === undefined ? undefined : pipeline(Readable.from(source), decoder(), () => {})
  const node = decoded === undefined ? nodeReadable(source) : undefined
  // A Node stream left early is kept open, so an oversized one can be drained below.
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of decoded ?? node?.iterator({ destroyOnReturn: false }) ?? source) {
      const buffer =
        typeof chunk === 'string'
          ? Buffer.from(chunk)
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      size += buffer.byteLength
      if (size > maxBytes) return drained(node, maxBytes)
      chunks.push(buffer)
    }
  } catch (error) {
    // Undecoded, a failing source is the caller's to see; decoded, it is bad bytes or a lost client.
    if (decoded === undefined) throw error
    const detail = error instanceof Error ? error.message : String(error)
    return { ok: false, status: 400, message: `Request body is not valid ${coding} (${detail}).` }
  } finally {
    decoded?.destroy()
  }
  const text = Buffer.concat(chunks, size).toString('utf8')
  if (json || mode === 'json') return parseJsonText(text)
  return parseUntypedText(text, contentType, mode)
}

/** A body read on an LLM path whatever its content type: JSON is JSON; anything else depends on the path. */
export function parseUntypedText(
  text: string,
  contentType: string | undefined,
  mode: 'llm' | 'maybe',
): BodyResult {
  const parsed = parseJsonText(text)
  if (parsed.ok || mode === 'maybe') return parsed.ok ? parsed : { ok: true, body: text }
  if (parsed.status !== 400 || !parsed.message.startsWith('Request body is not valid JSON')) return parsed
  const type = contentType === undefined ? 'no Content-Type' : `Content-Type '${contentType.slice(0, 60)}'`
  return {
    ok: false,
    status: 400,
    message: `This path takes an LLM call, and its body (sent with ${type}) is not JSON. Send a JSON object with Content-Type: application/json.`,
  }
}

function isMultipart(contentType: string | undefined): boolean {
  return contentType?.trimStart().toLowerCase().startsWith('multipart/') === true
}

type NodeReadable = Readable & { iterator(options: { destroyOnReturn: boolean }): AsyncIterable<Uint8Array> }

function nodeReadable(source: unknown): NodeReadable | undefined {
  const candidate = source as Partial<NodeReadable> | undefined
  return typeof candidate?.iterator === 'function' && typeof candidate.resume === 'function'
    ? (candidate as NodeReadable)
    : undefined
}

/**
 * The 413 for an oversized body. A Node stream's rest is read and thrown away (up to a bound), so
 * the client, still sending, reads the answer instead of a connection reset.
 */
function drained(source: unknown, maxBytes: number): BodyResult {
  const node = nodeReadable(source)
  if (node !== undefined && !node.destroyed) {
    let discarded = 0
    const discard = (chunk: { length: number }) => {
      discarded += chunk.length
      if (discarded > MAX_DRAIN_BYTES) node.destroy()
    }
    node.on('data', discard)
    node.once('end', () => node.off('data', discard))
    node.resume()
  }
  return tooLarge(maxBytes)
}

function tooLarge(maxBytes: number): BodyResult {
  return {
    ok: false,
    status: 413,
    message: `Request body is larger than ${maxBytes} bytes; raise \`maxBodyBytes\` or send less.`,
  }
}

/** Deepest nesting of arrays and objects a body may have; LLM calls nest a few levels, tool schemas a few dozen. */
export const MAX_JSON_DEPTH = 512

/**
 * Parses JSON text; an empty body is no body, malformed JSON a 400 that says where it broke, and
 * nesting deeper than `MAX_JSON_DEPTH` a 400 before parsing (`[[[…]]]` two million deep would hold
 * the event loop for about 0.4 s inside `JSON.parse`).
 */
export function parseJsonText(text: string): BodyResult {
  if (text.trim() === '') return { ok: true, body: undefined }
  if (tooDeep(text)) {
    return {
      ok: false,
      status: 400,
      message: `Request body is nested too deeply (more than ${MAX_JSON_DEPTH} levels of arrays and objects); send a flatter body.`,
    }
  }
  try {
    return { ok: true, body: JSON.parse(text) }
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error)
    return {
      ok: false,
      status: 400,
      message: `Request body is not valid JSON (${detail}). Send a JSON object with Content-Type: application/json.`,
    }
  }
}

/**
 * True when brackets outside strings nest deeper than `MAX_JSON_DEPTH`. Strings are skipped with
 * `indexOf`, so a body that is mostly message text costs a fraction of its `JSON.parse`.
 */
function tooDeep(text: string): boolean {
  let depth = 0
  const length = text.length
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i)
    if (code === 34) {
      let end = text.indexOf('"', i + 1)
      // A quote after an odd run of backslashes is escaped: look further.
      while (end > 0 && text.charCodeAt(end - 1) === 92) {
        let k = end - 1
        while (text.charCodeAt(k) === 92) k--
        if ((end - 1 - k) % 2 === 0) break
        end = text.indexOf('"', end + 1)
      }
      if (end < 0) return false
      i = end
    } else if (code === 91 || code === 123) {
      if (++depth > MAX_JSON_DEPTH) return true
    } else if (code === 93 || code === 125) depth--
  }
  return false
}
