// The 3-rule check against rate-limiter-flexible's consume with many distinct callers in rotation:
// `tsx micro-callers.ts [callers...]` (default 1000 100000 1000000), one child process per size.
// Rates are per CPU-second of the process (the machine is shared), rounds interleaved.
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

/** Runs each size in its own process, so one size's heap never slows the next. */
export async function runCallersProcesses(sizes: number[]): Promise<CallersResult[]> {
  const results: CallersResult[] = []
  for (const size of sizes) {
    const child = fork(fileURLToPath(import.meta.url), ['--child', String(size)], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
    })
    results.push(
      await new Promise<CallersResult>((resolve, reject) => {
        child.once('message', (message) => resolve(message as CallersResult))
        child.once('exit', (code) => reject(new Error(`Callers benchmark process exited with code ${code}.`)))
      }),
    )
    child.kill()
  }
  return results
}

const child = process.argv.indexOf('--child')
if (child >= 0) process.send?.(await runCallers(Number(process.argv[child + 1])))
else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = process.argv.slice(2).map(Number)
  for (const result of await runCallersProcesses(sizes.length > 0 ? sizes : [1000, 100_000, 1_000_000])) {
    const ours = median(result.ours)
    const rlf = median(result.rlf)
    const ratios = result.ours.map((rate, i) => (rate / result.rlf[i]).toFixed(2)).join(', ')
    console.log(
      `${result.callers.toLocaleString('en-US').padStart(9)} callers: llm-limit 3 rules ${Math.round(ours).toLocaleString('en-US').padStart(9)} ops/s (${(1e6 / ours).toFixed(2)} µs), rate-limiter-flexible ${Math.round(rlf).toLocaleString('en-US').padStart(9)} ops/s (${(1e6 / rlf).toFixed(2)} µs): ${(ours / rlf).toFixed(2)}× (rounds: ${ratios}); heap ${result.heapMb.toFixed(0)} MB`,
    )
  }
}
