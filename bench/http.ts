import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { freePort } from '../test/support/redis-servers.js'
import { median } from './median.js'

/** One server kind's figures (medians of interleaved rounds). */
export interface HttpResult {
  kind: string
  /** Requests per second autocannon saw. */
  requestsPerSecond: number
  /** The server process's own CPU time per request, in µs: its cost, whoever is the bottleneck. */
  cpuMicrosPerRequest: number
}

type Sample = { cpuMicros: number; requests: number }

/**
 * Forks `tsx <script> <kind> <port> ...extra` and waits until it listens; `sample()` asks it for
 * its CPU time and request count so far.
 */
export async function startServer(kind: string, extra: string[] = [], script = './server.ts') {
  const port = await freePort()
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [kind, String(port), ...extra], {
    execArgv: ['--import', 'tsx'],
    stdio: 'inherit',
  })
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve())
    child.once('exit', (code) =>
      reject(new Error(`Server '${kind}' exited with code ${code} before it was ready.`)),
    )
  })
  const sample = () =>
    new Promise<Sample>((resolve) => {
      child.once('message', (message) => resolve(message as Sample))
      child.send('sample')
    })
  return { port, sample, stop: () => child.kill() }
}

/** Loads a server for `seconds` with autocannon (32 connections); returns its requests/s. */
export async function load(port: number, seconds: number): Promise<number> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/`,
    connections: 32,
    pipelining: 1,
    duration: seconds,
  })
  if (result.non2xx > 0)
    throw new Error(`Benchmark server answered ${result.non2xx} non-2xx responses; limits are too low.`)
  return result.requests.average
}

/**
 * Starts every server kind in `processes` processes of its own and loads them all in interleaved
 * rounds. One process alone can be 15% off either way (the compiler optimises each a little
 * differently), more than the differences measured, so each kind's figure pools its processes.
 */
export async function runHttp(
  kinds: string[],
  rounds = 3,
  seconds = 3,
  processes = 3,
): Promise<HttpResult[]> {
  const servers = await Promise.all(
    Array.from({ length: processes }, () => kinds.map((kind) => startServer(kind))).flat(),
  )
  try {
    for (const server of servers) await load(server.port, 1)
    const rates = kinds.map(() => [] as number[])
    const costs = kinds.map(() => [] as number[])
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < servers.length; i++) {
        // Servers were started kind by kind, once per process: server i runs kind i % kinds.length.
        const k = i % kinds.length
        const before = await servers[i].sample()
        rates[k].push(await load(servers[i].port, seconds))
        const after = await servers[i].sample()
        costs[k].push((after.cpuMicros - before.cpuMicros) / (after.requests - before.requests))
      }
    }
    return kinds.map((kind, i) => ({
      kind,
      requestsPerSecond: median(rates[i]),
      cpuMicrosPerRequest: median(costs[i]),
    }))
  } finally {
    for (const server of servers) server.stop()
  }
}
