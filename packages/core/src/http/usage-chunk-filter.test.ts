import { describe, expect, it } from 'vitest'
import { UsageChunkFilter } from './usage-chunk-filter.js'

const content = 'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
const usage = 'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1}}\n\n'
const done = 'data: [DONE]\n\n'

describe('UsageChunkFilter', () => {
  it('removes the usage-only chunk, at any chunk boundary, and passes every other byte', () => {
    const body = content + usage + done
    for (const step of [1, 3, 7, 64, body.length]) {
      const filter = new UsageChunkFilter()
      let out = ''
      for (let i = 0; i < body.length; i += step) out += filter.write(body.slice(i, i + step))
      out += filter.end()
      expect(out).toBe(content + done)
      expect(filter.removed).toBe(1)
    }
  })

  it('keeps usage on a chunk that also has choices, CRLF events, and an event cut short', () => {
    const both = 'data: {"choices":[{"delta":{}}],"usage":{"prompt_tokens":5}}\r\n\r\n'
    const filter = new UsageChunkFilter()
    expect(filter.write(both) + filter.end('data: {"choi')).toBe(`${both}data: {"choi`)
    expect(filter.removed).toBe(0)
  })

  it('decodes multi-byte characters split across chunks', () => {
    const bytes = new TextEncoder().encode('data: {"choices":[{"delta":{"content":"é"}}]}\n\n')
    const filter = new UsageChunkFilter()
    const out = filter.write(bytes.slice(0, 40)) + filter.write(bytes.slice(40)) + filter.end()
    expect(out).toBe(new TextDecoder().decode(bytes))
  })
})
