// The one benchmark command: `pnpm bench` (optionally `pnpm bench micro|http|estimate|redis`;
// `pnpm bench http-compare [--old <ref>]` runs only when asked: it builds an older commit first).
import { runEstimateBench } from './estimate.js'
import { runHttp } from './http.js'
import { runHttpCompare } from './http-compare.js'
import { median } from './median.js'
import { runMicroProcesses } from './micro.js'
import { printRedisBench } from './redis.js'

const only = process.argv[2]
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`

if (only === 'http-compare') await runHttpCompare(process.argv.slice(3))

if (!only || only === 'micro') {
  console.log('\n## Decision cost, memory store (ops/s; median of interleaved rounds, then of 3 processes)\n')
  const runs = await runMicroProcesses(3)
  for (let c = 0; c < runs[0].length; c++)
    console.log(
      `${runs[0][c].name.padEnd(52)} ${Math.round(median(runs.map((run) => run[c].opsPerSecond)))
        .toLocaleString('en-US')
        .padStart(12)}`,
    )
  // Each process's own ratio (its contenders ran interleaved), then the median and spread of those.
  const ratios = (peer: number) => runs.map((run) => run[0].opsPerSecond / run[peer].opsPerSecond)
  const spread = (values: number[]) =>
    `${median(values).toFixed(2)}× (processes: ${values.map((value) => value.toFixed(2)).join(', ')})`
  console.log(`\nllm-limit (3 rules) vs rate-limiter-flexible (1 rule): ${spread(ratios(1))} (goal ≥ 1.00×)`)
  console.log(`llm-limit (3 rules) vs express-rate-limit store (1 rule): ${spread(ratios(2))}`)
}

if (!only || only === 'http') {
  console.log('\n## HTTP overhead (autocannon, 32 connections, each server in a child process)\n')
  console.log(
    "requests/s is what autocannon saw; server µs/request is the server process's own CPU time per request,",
  )
  console.log(
    'which still measures the server when the load generator (on the same 2 cores) is the bottleneck.\n',
  )
  const groups = [
    // Express's floors add an empty middleware that takes the adapter's first step (shareHiddenClass),
    // which speeds up Express itself: llmLimit's own cost is its ratio to that floor.
    ['express', 'express-bare', 'express-rate-limit', 'express-llm-limit', 0.95, ['express-shared-noop']],
    ['koa', 'koa-bare', 'koa-ratelimit', 'koa-llm-limit', 0.95, []],
    ['hono', 'hono-bare', 'hono-rate-limiter', 'hono-llm-limit', 0.85, []],
  ] as const
  for (const [framework, bare, peer, ours, goal, floors] of groups) {
    const same = `${ours}-peer-headers`
    const noop = `${framework}-noop`
    const headersOnly = `${framework}-headers-only`
    const noHeaders = `${ours}-no-headers`
    const results = await runHttp([bare, noop, ...floors, headersOnly, peer, ours, same, noHeaders])
    console.log(`${'server'.padEnd(32)} ${'requests/s'.padStart(10)} ${'server µs/request'.padStart(18)}`)
    for (const result of results)
      console.log(
        `${result.kind.padEnd(32)} ${Math.round(result.requestsPerSecond).toLocaleString('en-US').padStart(10)} ${result.cpuMicrosPerRequest.toFixed(1).padStart(18)}`,
      )
    const by = Object.fromEntries(results.map((result) => [result.kind, result]))
    const rps = (kind: string) => ratio(by[kind].requestsPerSecond, by[bare].requestsPerSecond)
    // Capacity ratio: how many requests per CPU-second the server manages relative to bare.
    const capacity = (kind: string) => ratio(by[bare].cpuMicrosPerRequest, by[kind].cpuMicrosPerRequest)
    console.log(
      `${framework} vs bare (goal ≥ ${goal.toFixed(2)}×), requests/s | server capacity: an empty middleware ${rps(noop)} | ${capacity(noop)}; one that only sets llmLimit's default headers ${rps(headersOnly)} | ${capacity(headersOnly)}; ${peer} ${rps(peer)} | ${capacity(peer)}; llmLimit, all three header sets ${rps(ours)} | ${capacity(ours)}; llmLimit, the peer's header set ${rps(same)} | ${capacity(same)}; llmLimit, no headers ${rps(noHeaders)} | ${capacity(noHeaders)}`,
    )
    for (const floor of floors)
      console.log(
        `llmLimit vs ${floor} (its own cost): ${ratio(by[ours].requestsPerSecond, by[floor].requestsPerSecond)} | ${ratio(by[floor].cpuMicrosPerRequest, by[ours].cpuMicrosPerRequest)}; ${floor} vs bare ${rps(floor)} | ${capacity(floor)}`,
      )
    console.log('')
  }
}

if (!only || only === 'estimate') {
  console.log('\n## Token estimates (gpt-tokenizer)\n')
  const result = await runEstimateBench()
  console.log('multi-turn, 100 conversations × 20 turns (each resends its history), median per request:')
  console.log(`  cached (after warm-up, history seen)  ${result.cachedMedianUs.toFixed(1)} µs (goal ≤ 10)`)
  console.log(`  first pass (newest message is new)    ${result.firstPassMedianUs.toFixed(1)} µs`)
  console.log(`  uncached (cacheSize: 0)               ${result.uncachedMedianUs.toFixed(1)} µs`)
  for (const row of result.adversarial) {
    console.log(
      `${row.name.padEnd(28)} p99 ${row.p99Ms.toFixed(2)} ms (goal ≤ 20), max event-loop delay ${row.maxEventLoopDelayMs.toFixed(1)} ms (goal ≤ 50)`,
    )
  }
}

if (!only || only === 'redis') await printRedisBench()
