import * as o200k from 'gpt-tokenizer/encoding/o200k_base'
import { describe, expect, it } from 'vitest'
import { isLlmLimitError } from '../errors.js'
import { gptTokenizer } from './tokenizer.js'

describe('gptTokenizer({ encodings })', () => {
  it('counts with the encoding module the app passed, not one it loads itself', () => {
    let calls = 0
    const counting = {
      countTokens: (text: string) => {
        calls++
        return o200k.countTokens(text)
      },
    }
    const tokenizer = gptTokenizer({ encodings: { o200k_base: counting } })
    expect(tokenizer.count('hello there, general kenobi', 'gpt-4o')).toBe(
      gptTokenizer().count('hello there, general kenobi', 'gpt-4o'),
    )
    expect(calls).toBe(1)
    // Claude's calibration still applies on top of the passed encoding.
    expect(tokenizer.count('hello there, general kenobi', 'claude-sonnet-4')).toBe(
      Math.ceil(o200k.countTokens('hello there, general kenobi') * 1.15),
    )
    expect(calls).toBe(2)
  })

  it('loads an encoding the app did not pass', () => {
    const tokenizer = gptTokenizer({ encodings: { o200k_base: o200k } })
    expect(tokenizer.count('hello there', 'gpt-4')).toBe(gptTokenizer().count('hello there', 'gpt-4'))
  })

  it('rejects a value that is not an encoding module, naming the option and the import', () => {
    let thrown: unknown
    try {
      gptTokenizer({ encodings: { o200k_base: {} as never } })
    } catch (error) {
      thrown = error
    }
    expect(isLlmLimitError(thrown) && thrown.code).toBe('ERR_CONFIG')
    expect(String(thrown)).toContain("import * as m from 'gpt-tokenizer/encoding/o200k_base'")
  })
})
