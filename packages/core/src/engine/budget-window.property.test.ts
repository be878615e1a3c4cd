import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { memoryStore } from '../store/memory-store.js'
import type { Algorithm, LimitRequest } from '../types.js'
import type { Decision } from './decision.js'
import { createLimiter } from './limiter.js'

/**
 * Issue 18 through the whole limiter: a token rule and a dollar rule with their default algorithms,
 * a fake clock, and clients that reserve, then commit less or more, abort, release or never settle.
 * No span of a rule's period ever admits more than its limit.
 */

const TOKENS = { name: 'tokens', limit: 400, windowMs: 1000 }
// At $1 per 1M input and $2 per 1M output tokens, a micro-dollar is one input token or half an output token.
const SPEND = { name: 'spend', limit: 800, windowMs: 2000 }

type Step =
  | { kind: 'call'; dt: number; maxTokens: number }
  | {
      kind: 'settle'
      dt: number
      pick: number
      how: 'commit' | 'abort' | 'release'
      input: number
      output: number
    }

const steps = fc.array(
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('call' as const),
        dt: fc.integer({ min: 0, max: 300 }),
        maxTokens: fc.integer({ min: 1, max: 160 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('settle' as const),
        dt: fc.integer({ min: 0, max: 300 }),
        pick: fc.nat(),
        how: fc.constantFrom('commit' as const, 'abort' as const, 'release' as const),
        // Percent of the estimate: up to 2× (the provider billed more than the reservation).
        input: fc.integer({ min: 0, max: 200 }),
        output: fc.integer({ min: 0, max: 200 }),
      }),
    },
  ),
  { minLength: 1, maxLength: 60 },
)

type Admitted = { at: number; reserved: [number, number]; final: [number, number] }

const chat = (maxTokens: number): LimitRequest => ({
  method: 'POST',
  path: '/v1/chat/completions',
  headers: {},
  ip: '203.0.113.7',
  body: { model: 'test-model', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: maxTokens },
})

/** Plays the steps through a limiter whose rules use `algorithm` (their defaults when undefined). */
async function play(sequence: Step[], algorithm: Algorithm | undefined): Promise<Admitted[]> {
  const time = { now: Date.UTC(2026, 0, 15, 10, 0, 0, 123) }
  const charged = new Map<Decision, number>()
  const limiter = createLimiter({
    store: memoryStore({ now: () => time.now }),
    prices: { 'test-model': { input: 1, output: 2 } },
    rules: [
      { name: TOKENS.name, tokens: TOKENS.limit, per: '1s', algorithm },
      { name: SPEND.name, costUsd: SPEND.limit / 1e6, per: '2s', algorithm },
    ],
    events: { onCommit: ({ decision, costMicroUsd }) => charged.set(decision, costMicroUsd) },
  })
  const admitted: Admitted[] = []
  const open: { decision: Decision; admitted: Admitted }[] = []
  for (const step of sequence) {
    time.now += step.dt
    if (step.kind === 'call') {
      const decision = await limiter.check(chat(step.maxTokens))
      if (!decision.allowed) continue
      const { inputTokens, outputTokens, costMicroUsd } = decision.estimate
      const reserved: [number, number] = [inputTokens + outputTokens, costMicroUsd]
      const entry = { at: time.now, reserved, final: reserved }
      admitted.push(entry)
      open.push({ decision, admitted: entry })
      continue
    }
    if (open.length === 0) continue
    const [{ decision, admitted: entry }] = open.splice(step.pick % open.length, 1)
    const { inputTokens, outputTokens } = decision.estimate
    const input = Math.round((inputTokens * step.input) / 100)
    const output = Math.round((outputTokens * step.output) / 100)
    if (step.how === 'release') await decision.release()
    // An abort after the upstream call began: the whole input plus what was streamed.
    else if (step.how === 'abort')
      await decision.commit({ inputTokens, outputTokens: Math.min(output, outputTokens) })
    else await decision.commit({ inputTokens: input, outputTokens: output })
    const usage =
      step.how === 'release'
        ? 0
        : step.how === 'abort'
          ? inputTokens + Math.min(output, outputTokens)
          : input + output
    entry.final = [usage, charged.get(decision) ?? Number.NaN]
  }
  await limiter.close()
  return admitted
}

/** Every span of each rule's period holds at most its limit; an admission counts what it kept, at most its reservation. */
function withinLimits(admitted: Admitted[]): boolean {
  return [TOKENS, SPEND].every(({ limit, windowMs }, rule) =>
    admitted.every((last, i) => {
      let sum = 0
      for (let j = 0; j <= i; j++) {
        const a = admitted[j]
        if (a.at > last.at - windowMs) sum += Math.min(a.final[rule], a.reserved[rule])
      }
      return sum <= limit
    }),
  )
}

describe('token and dollar rules through createLimiter (memory store)', () => {
  it('never admit more than their limit in any span of the period, with commits, aborts and releases', async () => {
    await fc.assert(
      fc.asyncProperty(steps, async (sequence) => withinLimits(await play(sequence, undefined))),
      { numRuns: 150 },
    )
  })

  it('negative control: the same rules on a token bucket (the old default) admit more', async () => {
    await expect(
      fc.assert(
        fc.asyncProperty(steps, async (sequence) => withinLimits(await play(sequence, 'token-bucket'))),
        { numRuns: 300 },
      ),
    ).rejects.toThrow(/Property failed/)
  })
})
