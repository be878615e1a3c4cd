// `pnpm bench http-compare --instructions`: the same servers under valgrind's callgrind, counting the
// instructions each one executes per request. Unlike CPU time, a count does not depend on what else
// the machine runs, so it can tell a 3% difference on a busy machine (at ~1/50th of the speed).
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { freePort } from '../test/support/redis-servers.js'

/** A server under callgrind whose counters can be zeroed and dumped between windows of requests. */
interface CountedServer {
  port: number
  /** Instructions per request over `requests` requests sent now. */
  window(requests: number): Promise<number>
  stop(): void
}

// Few connections and a long timeout: six servers under valgrind on two busy cores answer slowly.
const send = (port: number, amount: number) =>
  autocannon({ url: `http://127.0.0.1:${port}/`, connections: 4, amount, timeout: 300 })

/** Starts `compare-server.ts` under callgrind and waits until it answers. */
export async function startCounted(framework: string, checkout: string | undefined): Promise<CountedServer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'llm-limit-callgrind-'))
  const script = fileURLToPath(new URL('./compare-server.ts', import.meta.url))
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--vgdb=yes',
      `--callgrind-out-file=${join(dir, 'out')}`,
      process.execPath,
      '--import',
      'tsx',
      script,
      framework,
      String(port),
      ...(checkout ? [checkout] : []),
    ],
    { stdio: 'ignore' },
  )
  const pid = String(child.pid)
  let exited = false
  child.once('exit', () => {
    exited = true
  })
  // Starting under valgrind takes a minute or two; poll until the server answers.
  for (;;) {
    if (exited) throw new Error(`The ${framework} server under valgrind exited before it answered.`)
    const answered = await fetch(`http://127.0.0.1:${port}/`).then(
      (response) => response.ok,
      () => false,
    )
    if (answered) break
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
  let dumps = 0
  return {
    port,
    async window(requests) {
      execFileSync('callgrind_control', ['-z', pid], { stdio: 'ignore' })
      const result = await send(port, requests)
      if (result.non2xx > 0 || result.errors > 0)
        throw new Error(
          `The ${framework} server under valgrind failed ${result.errors + result.non2xx} requests.`,
        )
      execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' })
      dumps++
      const file = readdirSync(dir).find((name) => name === `out.${dumps}`)
      if (!file) throw new Error(`callgrind wrote no dump ${dumps} in ${dir}.`)
      const totals = /^totals:\s*(\d+)/m.exec(readFileSync(join(dir, file), 'utf8'))
      if (!totals) throw new Error(`No totals line in ${join(dir, file)}.`)
      return Number(totals[1]) / result.requests.total
    },
    stop() {
      // SIGKILL: no final dump; the directory goes once the process is gone.
      const remove = () => rmSync(dir, { recursive: true, force: true })
      if (exited) remove()
      else child.once('exit', remove)
      child.kill('SIGKILL')
    },
  }
}

/** Warms every server, then counts `windows` windows of `requests` requests on all of them at once. */
export async function countInstructions(
  servers: CountedServer[],
  windows: number,
  requests: number,
  warm: number,
): Promise<number[][]> {
  await Promise.all(servers.map((server) => send(server.port, warm)))
  const counts = servers.map(() => [] as number[])
  for (let w = 0; w < windows; w++) {
    const round = await Promise.all(servers.map((server) => server.window(requests)))
    for (let i = 0; i < round.length; i++) counts[i].push(round[i])
  }
  return counts
}
