import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { readJsonBody } from './read-body.js'

const JSON_TYPE = 'application/json'

async function* chunks(...parts: (Buffer | Error)[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) {
    if (part instanceof Error) throw part
    yield part
  }
}

describe('readJsonBody', () => {
  it('decodes a gzip body and bounds its decoded size', async () => {
    const body = { model: 'gpt-4o', messages: [] }
    expect(
      await readJsonBody(chunks(gzipSync(JSON.stringify(body))), JSON_TYPE, 1024, undefined, 'gzip'),
    ).toEqual({ ok: true, body })
    // 1 MB of JSON in about 1 KB of gzip, against a 64 KB limit.
    const bomb = gzipSync(JSON.stringify({ text: 'a'.repeat(1_000_000) }))
    expect(bomb.length).toBeLessThan(64 * 1024)
    expect(await readJsonBody(chunks(bomb), JSON_TYPE, 64 * 1024, String(bomb.length), 'GZIP')).toMatchObject(
      {
        ok: false,
        status: 413,
      },
    )
  })

  it('ends with a 400 when the client goes away halfway through a gzip body, instead of waiting forever', async () => {
    const whole = gzipSync(JSON.stringify({ text: 'b'.repeat(100_000) }))
    const read = readJsonBody(
      chunks(whole.subarray(0, 200), new Error('aborted')),
      JSON_TYPE,
      1_000_000,
      undefined,
      'gzip',
    )
    const timeout = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2000))
    expect(await Promise.race([read, timeout])).toMatchObject({ ok: false, status: 400 })
  })

  it('hands a failing plain source to the caller, and refuses encodings it cannot decode', async () => {
    await expect(
      readJsonBody(chunks(Buffer.from('{"a"'), new Error('aborted')), JSON_TYPE, 1024),
    ).rejects.toThrow('aborted')
    expect(
      await readJsonBody(chunks(Buffer.from('{}')), JSON_TYPE, 1024, undefined, 'compress'),
    ).toMatchObject({
      ok: false,
      status: 415,
    })
    expect(await readJsonBody(chunks(Buffer.from('{}')), JSON_TYPE, 1024, undefined, 'identity')).toEqual({
      ok: true,
      body: {},
    })
  })
})
