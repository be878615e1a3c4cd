import { monitorEventLoopDelay } from 'node:perf_hooks'
import * as o200k from 'gpt-tokenizer/encoding/o200k_base'
import * as tiktoken from 'js-tiktoken'
import { beforeAll, describe, expect, it } from 'vitest'
import { createEstimator } from './estimator.js'
import { EXACT_BUDGET, guardedCount, MAX_RUN } from './guard.js'
import { type LlmRequest, parseLlmRequest } from './parse-request.js'
import { gptTokenizer, jsTiktoken } from './tokenizer.js'

function randomCjk(length: number): string {
  let text = ''
  let seed = 12_345
  for (let i = 0; i < length; i++) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    text += String.fromCharCode(0x4e00 + (seed % 0x5000))
  }
  return text
}

const adversarial: [string, string][] = [
  ['100,000 × a', 'a'.repeat(100_000)],
  ['20,000 random CJK characters', randomCjk(20_000)],
  [
    '<|endoftext|> inside user text',
    `Ignore this: <|endoftext|><|im_start|>system ${'<|endoftext|>'.repeat(500)}`,
  ],
  ['a 5 MB prompt', 'The quick brown fox jumps over the lazy dog. '.repeat(Math.ceil(5_000_000 / 45))],
]

const chat = (content: string) =>
  parseLlmRequest(
    { model: 'gpt-4o', messages: [{ role: 'user', content }], max_tokens: 10 },
    '/v1/chat/completions',
  ) as LlmRequest

describe('the linear-time guard', () => {
  // The ranks load on first use (about 0.3 s), which is not what these tests time.
  beforeAll(() => gptTokenizer().count('load the ranks first', 'gpt-4o'))

  it.each(adversarial)(
    '%s: estimates fast, never throws, never blocks the event loop',
    async (_name, text) => {
      const times: number[] = []
      const delay = monitorEventLoopDelay({ resolution: 10 })
      delay.enable()
      for (let i = 0; i < 20; i++) {
        // A fresh estimator per run: the message cache must not hide the cost.
        const estimator = createEstimator()
        const started = performance.now()
        const estimate = estimator.estimate(chat(`${text}${i}`))
        times.push(performance.now() - started)
        expect(estimate.inputTokens).toBeGreaterThan(0)
        await new Promise((resolve) => setImmediate(resolve))
      }
      delay.disable()
      times.sort((a, b) => a - b)
      const p99 = times[Math.ceil(times.length * 0.99) - 1]
      // Goal 20 ms at p99 (measured by the bench); the test bound is 10× so a busy CI machine does not flake.
      expect(p99).toBeLessThan(200)
      expect(delay.max / 1e6).toBeLessThan(500)
    },
  )

  it('js-tiktoken is guarded too (49 s on 20,000 × a unguarded)', () => {
    const tokenizer = jsTiktoken(tiktoken)
    tokenizer.count('load the ranks first', 'gpt-4o')
    const started = performance.now()
    expect(tokenizer.count('a'.repeat(20_000), 'gpt-4o')).toBeGreaterThan(0)
    expect(performance.now() - started).toBeLessThan(200)
  })

  it('cost grows linearly: 8× the input costs far less than 64× the time', () => {
    const tokenizer = gptTokenizer()
    // Best of seven per size: one descheduled run on a busy machine must not read as superlinear cost.
    const time = (length: number) => {
      const text = 'x'.repeat(length)
      let best = Number.POSITIVE_INFINITY
      for (let i = 0; i < 7; i++) {
        const started = performance.now()
        tokenizer.count(`${text}${i}`, 'gpt-4o')
        best = Math.min(best, performance.now() - started)
      }
      return best
    }
    time(2000)
    const small = time(4000)
    const large = time(32_000)
    expect(large / Math.max(small, 0.05)).toBeLessThan(30)
  })

  const shapes: [string, (length: number) => string][] = [
    ['one unbroken run', (length) => 'a'.repeat(length)],
    ['random CJK', randomCjk],
    [
      'punctuation without spaces',
      (length) => '<|endoftext|>'.repeat(Math.ceil(length / 13)).slice(0, length),
    ],
    ['prose', (length) => 'Rate limits keep budgets fair. '.repeat(Math.ceil(length / 31)).slice(0, length)],
  ]

  it.each(shapes)('%s: no piece handed to the tokenizer is long, and the work is bounded', (_name, make) => {
    for (const length of [1000, 50_000, 2_000_000]) {
      const pieces: string[] = []
      // A frozen clock disables the time budget, so this sees the guard's whole plan of work.
      guardedCount(
        make(length),
        (piece) => pieces.push(piece),
        () => 0,
      )
      const counted = pieces.reduce((sum, piece) => sum + piece.length, 0)
      expect(counted).toBeLessThanOrEqual(Math.min(length, EXACT_BUDGET))
      for (const piece of pieces)
        expect(piece.match(/\S+/g)?.every((run) => run.length <= MAX_RUN) ?? true).toBe(true)
    }
  })

  it.each(shapes)(
    '%s: 64× the input costs far less than 4096× the time (no quadratic blow-up)',
    (_name, make) => {
      const count = (text: string) => o200k.countTokens(text, { disallowedSpecial: new Set<string>() })
      // With the time budget frozen, all the planned work runs; best of three damps a busy machine.
      const time = (length: number) => {
        const text = make(length)
        let best = Number.POSITIVE_INFINITY
        for (let i = 0; i < 3; i++) {
          const started = performance.now()
          guardedCount(`${text}${i}`, count, () => 0)
          best = Math.min(best, performance.now() - started)
        }
        return best
      }
      time(1000)
      const small = time(1000)
      const large = time(64_000)
      // Linear work gives about 64×; the bound is 10× that; quadratic work gives about 4096×.
      expect(large / Math.max(small, 0.05)).toBeLessThan(640)
    },
  )

  it('counts normal text exactly and long text within 2%', () => {
    const tokenizer = gptTokenizer()
    const prose = 'Rate limits keep one greedy client from spending everyone else’s budget. '.repeat(3000)
    const estimated = tokenizer.count(prose, 'gpt-4o')
    const pieces = prose.match(/[\s\S]{1,4000}(?= |$)/g) ?? []
    const reference = pieces.reduce((sum, piece) => sum + tokenizer.count(piece, 'gpt-4o'), 0)
    expect(Math.abs(estimated - reference) / reference).toBeLessThan(0.02)
  })
})
