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

/** Figures of the priced-decision bench: the same decision on the code before the catalog and now. */
export interface PricedDecisionResult {
  /** The commit measured as "before". */
  baseline: string
  beforeMedianUs: number
  afterMedianUs: number
  /** Median over rounds of after ÷ before (CPU time); the goal is ≤ 1.05. */
  ratio: number
}

type CoreModule = typeof import('@llm-limit/core')

/**
 * One decision on a priced model (gpt-4o chat, three messages, estimate cached after warm-up):
 * `checkNow` plus `commit` of the provider's usage object, on a memory store with a token and a
 * dollar rule. The code before the catalog is taken from git (`PRICE_BASELINE`, default the
 * merge-base with main) into packages/core/node_modules, so both run from source under tsx, in
 * interleaved rounds of one process, and machine noise hits both alike.
 */
export async function runPricedDecisionBench(rounds = 31, perRound = 2000): Promise<PricedDecisionResult> {
  const { execFileSync } = await import('node:child_process')
  const { mkdirSync, rmSync } = await import('node:fs')
  const { fileURLToPath, pathToFileURL } = await import('node:url')
  const root = fileURLToPath(new URL('..', import.meta.url))
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim()
  const baseline = process.env.PRICE_BASELINE ?? git('merge-base', 'HEAD', 'main')
  const dir = `${root}packages/core/node_modules/.bench-baseline`
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  execFileSync(
    'sh',
    ['-c', `git archive ${baseline} packages/core/src packages/core/package.json | tar -x -C ${dir}`],
    { cwd: root },
  )
  try {
    const before: CoreModule = await import(pathToFileURL(`${dir}/packages/core/src/index.ts`).href)
    const after: CoreModule = await import(pathToFileURL(`${root}packages/core/src/index.ts`).href)
    const decide = (core: CoreModule) => {
      const limiter = core.createLimiter({
        rules: [
          { name: 'tpm', by: 'ip', tokens: 1e12, per: '1m' },
          { name: 'dollars', by: 'ip', costUsd: 1e8, per: 'day' },
        ],
      })
      const response = {
        model: 'gpt-4o-2024-08-06',
        usage: { prompt_tokens: 60, completion_tokens: 40, prompt_tokens_details: { cached_tokens: 0 } },
      }
      const messages = [
        { role: 'system', content: 'You are a terse assistant.' },
        { role: 'user', content: SENTENCES[0] },
        { role: 'assistant', content: SENTENCES[1] },
      ]
      const estimates: number[] = []
      const run = (i: number): Promise<void> => {
        const decision = limiter.checkNow({
          method: 'POST',
          path: '/v1/chat/completions',
          headers: {},
          ip: `10.0.0.${i & 63}`,
          body: { model: 'gpt-4o', messages, max_tokens: 256 },
        }) as import('@llm-limit/core').Decision
        if (i === -1) estimates.push(decision.estimate.costMicroUsd)
        return decision.commit(core.usageFromJson(response))
      }
      return Object.assign(run, { estimates })
    }
    const contenders = [decide(before), decide(after)]
    // Both must do the same work: the same estimate for the same request.
    await contenders[0](-1)
    await contenders[1](-1)
    if (contenders[0].estimates[0] !== contenders[1].estimates[0])
      throw new Error(
        `The estimates differ: ${contenders[0].estimates[0]} before, ${contenders[1].estimates[0]} after.`,
      )
    // CPU time of this process, not wall time: on a shared machine, waiting for a core is not cost.
    const time = async (run: (i: number) => Promise<void>) => {
      const started = process.cpuUsage()
      for (let i = 0; i < perRound; i++) await run(i)
      const used = process.cpuUsage(started)
      return (used.user + used.system) / perRound
    }
    for (const run of contenders) await time(run)
    const times: [number[], number[]] = [[], []]
    for (let round = 0; round < rounds; round++) {
      // Alternate which goes first, so neither always runs on a warmer or a busier machine.
      const order = round % 2 ? [1, 0] : [0, 1]
      for (const which of order) times[which].push(await time(contenders[which]))
    }
    // Each round's pair ran back to back: the median of the paired ratios shrugs off a noisy round.
    const ratio = median(times[1].map((after, round) => after / times[0][round]))
    return { baseline, beforeMedianUs: median(times[0]), afterMedianUs: median(times[1]), ratio }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (
  process.argv[1] &&
  import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '') &&
  process.argv[2] === 'prices'
) {
  const result = await runPricedDecisionBench()
  console.log(
    `priced decision (gpt-4o, checkNow + commit), median per decision: before (${result.baseline.slice(0, 7)}) ${result.beforeMedianUs.toFixed(2)} µs, after ${result.afterMedianUs.toFixed(2)} µs, ratio ${result.ratio.toFixed(3)} (goal ≤ 1.05)`,
  )
}
