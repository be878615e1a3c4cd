import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createLimiter, memoryStore } from '@llm-limit/core'
import { MemoryStore as ErlMemoryStore } from 'express-rate-limit'
import { RateLimiterMemory } from 'rate-limiter-flexible'
import { median } from './median.js'

/** One measured contender: ops per second over interleaved rounds (median). */
export interface MicroResult {
  name: string
  opsPerSecond: number
}

const CLIENTS = 1000
const ips = Array.from({ length: CLIENTS }, (_, i) => `10.0.${i >> 8}.${i & 255}`)
const requests = ips.map((ip) => ({ method: 'GET', path: '/v1/models', headers: {}, ip }))

type Contender = { name: string; op: (i: number) => Promise<unknown> }

function contenders(): Contender[] {
  const limiter = createLimiter({
    store: memoryStore(),
    rules: [
      { name: 'burst', by: 'ip', requests: 1e9, per: '1s' },
      { name: 'minute', by: 'ip', requests: 1e9, per: '1m', algorithm: 'sliding-window' },
      { name: 'hour', by: 'ip', requests: 1e9, per: '1h', algorithm: 'fixed-window' },
    ],
  })
  const rlf = new RateLimiterMemory({ points: 1e9, duration: 60 })
  const erl = new ErlMemoryStore()
  erl.init({ windowMs: 60_000 } as Parameters<ErlMemoryStore['init']>[0])
  return [
    { name: 'llm-limit check (3 rules)', op: (i) => limiter.check(requests[i % CLIENTS]) },
    { name: 'rate-limiter-flexible consume (1 rule)', op: (i) => rlf.consume(ips[i % CLIENTS]) },
    { name: 'express-rate-limit MemoryStore.increment (1 rule)', op: (i) => erl.increment(ips[i % CLIENTS]) },
  ]
}

async function measure(op: Contender['op'], ms: number): Promise<number> {
  const started = performance.now()
  let done = 0
  while (performance.now() - started < ms) {
    // Batches of awaited calls: the way a server would call them, one request at a time.
    for (let i = 0; i < 1000; i++) await op(done + i)
    done += 1000
  }
  return (done * 1000) / (performance.now() - started)
}

/** Runs every contender in interleaved rounds so machine noise hits all of them alike. */
export async function runMicro(rounds = 7, roundMs = 400): Promise<MicroResult[]> {
  const all = contenders()
  const samples = all.map(() => [] as number[])
  for (const contender of all) await measure(contender.op, 200)
  for (let round = 0; round < rounds; round++) {
    for (let c = 0; c < all.length; c++) samples[c].push(await measure(all[c].op, roundMs))
  }
  return all.map((contender, c) => ({ name: contender.name, opsPerSecond: median(samples[c]) }))
}

/**
 * Runs the contenders in `count` fresh processes, one after another: the compiler optimises each
 * process a little differently, so one process alone can be 15% off either way.
 */
export async function runMicroProcesses(count = 3): Promise<MicroResult[][]> {
  const runs: MicroResult[][] = []
  for (let i = 0; i < count; i++) {
    const child = fork(fileURLToPath(import.meta.url), ['--child'], { execArgv: ['--import', 'tsx'] })
    runs.push(
      await new Promise<MicroResult[]>((resolve, reject) => {
        child.once('message', (message) => resolve(message as MicroResult[]))
        child.once('exit', (code) => reject(new Error(`Micro benchmark process exited with code ${code}.`)))
      }),
    )
    child.kill()
  }
  return runs
}

if (process.argv.includes('--child')) process.send?.(await runMicro())
