import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createEstimator, type LlmRequest, parseLlmRequest } from '@llm-limit/core'
import { median } from './median.js'

/** Figures of the estimate bench. */
export interface EstimateResult {
  /** Every message seen before (the history of a chat after warm-up). */
  cachedMedianUs: number
  /** First sight of each request: the history cached, the newest message new. */
  firstPassMedianUs: number
  uncachedMedianUs: number
  adversarial: { name: string; p99Ms: number; maxEventLoopDelayMs: number }[]
}

const SENTENCES = [
  'Could you summarise the attached quarterly report in three bullet points?',
  'Sure. Revenue grew 12% year over year, driven mostly by the enterprise tier, while churn fell to 3.1%.',
  'What were the main risks the auditors flagged, and how is the team addressing each of them?',
  'They flagged supplier concentration, a pending lawsuit in the EU, and key-person dependency in the data team.',
]

function conversation(id: number, turns: number): Record<string, string>[][] {
  const history: Record<string, string>[] = [
    { role: 'system', content: `You are assistant #${id}. Be concise and cite sources.` },
  ]
  const requests: Record<string, string>[][] = []
  for (let turn = 0; turn < turns; turn++) {
    const text = `${SENTENCES[turn % 4]} (conversation ${id}, turn ${turn}) ${SENTENCES[(turn + id) % 4]}`
    history.push({ role: turn % 2 ? 'assistant' : 'user', content: text.repeat(1 + (turn % 3)) })
    // Clients resend the whole history; JSON parsing gives fresh objects each time.
    requests.push(JSON.parse(JSON.stringify(history)))
  }
  return requests
}

function parse(messages: Record<string, string>[]): LlmRequest {
  return parseLlmRequest({ model: 'gpt-4o', messages, max_tokens: 256 }, '/v1/chat/completions') as LlmRequest
}

function timeEach(requests: LlmRequest[], estimate: (request: LlmRequest) => unknown): number[] {
  return requests.map((request) => {
    const started = process.hrtime.bigint()
    estimate(request)
    return Number(process.hrtime.bigint() - started) / 1000
  })
}

function randomCjk(length: number): string {
  let text = ''
  for (let i = 0; i < length; i++) text += String.fromCharCode(0x4e00 + Math.floor(Math.random() * 0x5000))
  return text
}

/** 100 conversations × 20 turns, each resending its history: per-request estimate cost with and without the cache. */
export async function runEstimateBench(): Promise<EstimateResult> {
  const workload = Array.from({ length: 100 }, (_, id) => conversation(id, 20))
    .flat()
    .map(parse)
  const cached = createEstimator()
  // Warm-up: load the encodings and JIT the hot paths on a different workload.
  for (const request of Array.from({ length: 20 }, (_, id) => conversation(1000 + id, 20))
    .flat()
    .map(parse))
    cached.estimate(request)
  const firstPassTimes = timeEach(workload, (request) => cached.estimate(request))
  const replay = Array.from({ length: 100 }, (_, id) => conversation(id, 20))
    .flat()
    .map(parse)
  const cachedTimes = timeEach(replay, (request) => cached.estimate(request))
  const uncached = createEstimator({ cacheSize: 0 })
  const uncachedTimes = timeEach(workload, (request) => uncached.estimate(request))

  const adversarial: EstimateResult['adversarial'] = []
  const inputs: [string, () => string][] = [
    ['100,000 × a', () => 'a'.repeat(100_000)],
    ['20,000 random CJK', () => randomCjk(20_000)],
    ['<|endoftext|> in user text', () => `x <|endoftext|> ${'<|endoftext|>'.repeat(1000)}`],
    ['5 MB prompt', () => 'The quick brown fox jumps over the lazy dog. '.repeat(111_112)],
  ]
  for (const [name, make] of inputs) {
    const delay = monitorEventLoopDelay({ resolution: 1 })
    delay.enable()
    const times: number[] = []
    let maxDelayNs = 0
    // 200 samples, so p99 is not simply the slowest one; each body is made just before it is
    // timed (not 200 × 5 MB at once). Bodies arrive as JSON text, so their strings are flat, as in
    // a server; parsing is not measured.
    for (let i = 0; i < 200; i++) {
      const request = parse(JSON.parse(JSON.stringify([{ role: 'user', content: `${make()}${i}` }])))
      // Making the body blocks the loop too: let the monitor see that, then forget it.
      await new Promise((resolve) => setTimeout(resolve, 2))
      delay.reset()
      const started = performance.now()
      createEstimator().estimate(request)
      times.push(performance.now() - started)
      await new Promise((resolve) => setTimeout(resolve, 2))
      maxDelayNs = Math.max(maxDelayNs, delay.max)
    }
    delay.disable()
    times.sort((a, b) => a - b)
    adversarial.push({
      name,
      p99Ms: times[Math.ceil(times.length * 0.99) - 1],
      maxEventLoopDelayMs: maxDelayNs / 1e6,
    })
  }
  return {
    cachedMedianUs: median(cachedTimes),
    firstPassMedianUs: median(firstPassTimes),
    uncachedMedianUs: median(uncachedTimes),
    adversarial,
  }
}
