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

/**
 * Reads a JSON body from a Node stream or any async iterable of chunks, stopping at `maxBytes`,
 * so a huge upload cannot exhaust memory. A gzip, deflate or Brotli body is decoded, and
 * `maxBytes` bounds the decoded size, so a small compressed bomb is refused too. Non-JSON
 * bodies are left unread.
 */
export async function readJsonBody(
  source: AsyncIterable<Uint8Array | string>,
  contentType: string | undefined,
  maxBytes: number,
  contentLength?: string,
  contentEncoding?: string,
): Promise<BodyResult> {
  if (!isJsonContentType(contentType)) return { ok: true, body: undefined }
  // A declared size over the limit is refused before a single byte is read.
  if (contentLength !== undefined && Number(contentLength) > maxBytes) return tooLarge(maxBytes)
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
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of decoded ?? source) {
      const buffer =
        typeof chunk === 'string'
          ? Buffer.from(chunk)
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      size += buffer.byteLength
      if (size > maxBytes) return tooLarge(maxBytes)
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
  return parseJsonText(Buffer.concat(chunks, size).toString('utf8'))
}

function tooLarge(maxBytes: number): BodyResult {
  return {
    ok: false,
    status: 413,
    message: `Request body is larger than ${maxBytes} bytes; raise \`maxBodyBytes\` or send less.`,
  }
}

/** Parses JSON text; an empty body is no body, malformed JSON a 400 that says where it broke. */
export function parseJsonText(text: string): BodyResult {
  if (text.trim() === '') return { ok: true, body: undefined }
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
