// The 3-rule check against rate-limiter-flexible's consume with many distinct callers in rotation:
// `tsx micro-callers.ts [--processes N] [callers...]` (default 3 processes each of 1000 100000 1000000).
// Rates are per CPU-second of the process (the machine is shared), rounds interleaved. Rounds within
// one process agree to a few percent, but processes differ by up to 20% (where V8 happens to place
// each caller's objects decides how many cache lines a check touches), so each size runs in several
// processes and the median of their ratios is the figure.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createLimiter, memoryStore } from '@llm-limit/core'
import { RateLimiterMemory } from 'rate-limiter-flexible'
import { median } from './median.js'

/** Ops per second of each side at one number of callers, per interleaved round. */
export interface CallersResult {
  callers: number
  ours: number[]
  rlf: number[]
  heapMb: number
}

function ipOf(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
}

/** Runs `op` for about `ms` of wall time; the rate is per second of this process's CPU time, which other load on a shared machine disturbs far less. */
async function measure(
  op: (i: number) => Promise<unknown>,
  start: number,
  ms: number,
): Promise<[number, number]> {
  const started = performance.now()
  const cpu = process.cpuUsage()
  let done = 0
  while (performance.now() - started < ms) {
    for (let i = 0; i < 1000; i++) await op(start + done + i)
    done += 1000
  }
  const used = process.cpuUsage(cpu)
  return [(done * 1e6) / (used.user + used.system), start + done]
}

/** Both sides in interleaved rounds at `callers` distinct rotating IPs; each side keeps every caller. */
export async function runCallers(callers: number, rounds = 7, roundMs = 500): Promise<CallersResult> {
  const ips = Array.from({ length: callers }, (_, i) => ipOf(i))
  const headers = {}
  const requests = ips.map((ip) => ({ method: 'GET', path: '/v1/models', headers, ip }))
  // The store holds every caller, as rate-limiter-flexible does (it never evicts a live key).
  const limiter = createLimiter({
    store: memoryStore({ maxKeys: Math.max(100_000, callers) }),
    rules: [
      { name: 'burst', by: 'ip', requests: 1e9, per: '1s' },
      { name: 'minute', by: 'ip', requests: 1e9, per: '1m', algorithm: 'sliding-window' },
      { name: 'hour', by: 'ip', requests: 1e9, per: '1h', algorithm: 'fixed-window' },
    ],
  })
  const rlf = new RateLimiterMemory({ points: 1e9, duration: 600 })
  const ours = (i: number) => limiter.check(requests[i % callers])
  const theirs = (i: number) => rlf.consume(ips[i % callers])
  // Warm-up: every caller once on each side (so rounds measure returning callers), then past one
  // sub-window of the sliding rule (6 s), when each caller's sub-window ring is made once.
  for (let i = 0; i < callers; i++) await ours(i)
  for (let i = 0; i < callers; i++) await theirs(i)
  let [, a] = await measure(ours, callers, 7000)
  let [, b] = await measure(theirs, callers, 7000)
  // The warm-up leaves garbage in the old generation (a million callers' first decisions); collected
  // now, it never lands as a second-long full collection in the first measured round. V8 sweeps the
  // collected pages afterwards, on other threads or in the next allocations: two idle seconds let it
  // finish, where otherwise the first round (always ours) paid for sweeping both sides' heap (measured
  // at a million callers: that round's ratio 0.39 instead of 0.87).
  globalThis.gc?.()
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const result: CallersResult = { callers, ours: [], rlf: [], heapMb: 0 }
  for (let round = 0; round < rounds; round++) {
    let rate: number
    ;[rate, a] = await measure(ours, a, roundMs)
    result.ours.push(rate)
    ;[rate, b] = await measure(theirs, b, roundMs)
    result.rlf.push(rate)
  }
  result.heapMb = process.memoryUsage().heapUsed / 1e6
  return result
}

/** Runs each size in `processes` processes of its own, so one size's heap never slows the next. */
export async function runCallersProcesses(sizes: number[], processes = 3): Promise<CallersResult[][]> {
  const results: CallersResult[][] = []
  for (const size of sizes) {
    const runs: CallersResult[] = []
    for (let run = 0; run < processes; run++) runs.push(await runChild(size))
    results.push(runs)
  }
  return results
}

async function runChild(size: number): Promise<CallersResult> {
  const child = fork(fileURLToPath(import.meta.url), ['--child', String(size)], {
    execArgv: ['--import', 'tsx', '--max-old-space-size=4096', '--expose-gc'],
  })
  try {
    return await new Promise<CallersResult>((resolve, reject) => {
      child.once('message', (message) => resolve(message as CallersResult))
      child.once('exit', (code) => reject(new Error(`Callers benchmark process exited with code ${code}.`)))
    })
  } finally {
    child.kill()
  }
}

/** Ours over rate-limiter-flexible's rate in one process: the ratio of the medians of its rounds. */
function ratioOf(result: CallersResult): number {
  return median(result.ours) / median(result.rlf)
}

const child = process.argv.indexOf('--child')
if (child >= 0) process.send?.(await runCallers(Number(process.argv[child + 1])))
else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const flag = args.indexOf('--processes')
  const processes = flag >= 0 ? Number(args.splice(flag, 2)[1]) : 3
  if (!Number.isInteger(processes) || processes < 1)
    throw new Error('Expected --processes to be a positive integer.')
  const sizes = args.map(Number)
  for (const runs of await runCallersProcesses(
    sizes.length > 0 ? sizes : [1000, 100_000, 1_000_000],
    processes,
  )) {
    const ratios = runs.map(ratioOf)
    const m = median(ratios)
    // The process whose ratio is the median (nearest it, for an even count) shows its times and rounds.
    const middle = runs.reduce((best, run) =>
      Math.abs(ratioOf(run) - m) < Math.abs(ratioOf(best) - m) ? run : best,
    )
    const ours = median(middle.ours)
    const rlf = median(middle.rlf)
    console.log(
      `${middle.callers.toLocaleString('en-US').padStart(9)} callers: ${m.toFixed(2)}× (processes: ${ratios.map((r) => r.toFixed(2)).join(', ')}); median process: llm-limit 3 rules ${(1e6 / ours).toFixed(2)} µs, rate-limiter-flexible ${(1e6 / rlf).toFixed(2)} µs, rounds ${middle.ours.map((rate, i) => (rate / middle.rlf[i]).toFixed(2)).join(', ')}; heap ${middle.heapMb.toFixed(0)} MB`,
    )
  }
}
