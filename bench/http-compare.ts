// `pnpm bench http-compare [--old <ref>]`: the HTTP bench's llm-limit servers built from an older
// commit and from this checkout, in one run, loaded side by side, beside the bare frameworks.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { load, startServer } from './http.js'
import { countInstructions, startCounted } from './http-instructions.js'
import { median } from './median.js'

/** What to compare and how long to measure. */
export interface CompareOptions {
  /** The older commit, built in a temporary git worktree. @default 'd9d53f5' */
  old: string
  /** Rounds; every server is loaded once a round (windows of 700 requests when counting). @default 8, counting 3 */
  rounds: number
  /** Seconds of load per server and round. @default 2 */
  seconds: number
  /** Processes per framework and build, pooled (one process alone can be 15% off). @default 3 */
  processes: number
  /** Keep the old build's worktree, so the next run with the same commit reuses it. @default false */
  keep: boolean
  /** Count instructions per request under callgrind instead of measuring CPU time. @default false */
  instructions: boolean
  /** Frameworks to compare. @default ['express', 'koa', 'hono'] */
  frameworks: Framework[]
}

const allFrameworks = ['express', 'koa', 'hono'] as const
type Framework = (typeof allFrameworks)[number]
const builds = ['bare', 'old', 'new'] as const
type Build = (typeof builds)[number]
type Cell = { cpuMicros: number[][]; rates: number[][] } // [process][round]

const git = (args: string[], cwd: string) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim()
const run = (command: string, args: string[], cwd: string) =>
  execFileSync(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] })

/**
 * The older commit in a git worktree under the temp directory, installed and with its packages
 * built; a kept worktree of the same commit is reused.
 */
function checkoutOld(root: string, ref: string, keep: boolean) {
  const commit = git(['rev-parse', '--verify', `${ref}^{commit}`], root)
  const dir = join(tmpdir(), `llm-limit-http-compare-${commit.slice(0, 12)}`)
  const marker = join(dir, '.http-compare-built')
  const remove = () => git(['worktree', 'remove', '--force', dir], root)
  if (existsSync(marker) && readFileSync(marker, 'utf8') === commit) {
    console.log(`old build: reusing ${dir}`)
  } else {
    if (existsSync(dir)) remove()
    console.log(`old build: git worktree add ${dir} ${commit.slice(0, 7)}, install, build`)
    git(['worktree', 'add', '--detach', dir, commit], root)
    try {
      run('pnpm', ['install', '--frozen-lockfile', '--offline', '--reporter=silent'], dir)
    } catch {
      run('pnpm', ['install', '--frozen-lockfile', '--reporter=silent'], dir)
    }
    run('pnpm', ['-r', '--filter', './packages/*', '--reporter-hide-prefix', 'build'], dir)
    writeFileSync(marker, commit)
  }
  return { dir, commit, cleanup: () => (keep ? undefined : remove()) }
}

const warm = (port: number, amount: number) =>
  autocannon({ url: `http://127.0.0.1:${port}/`, connections: 32, amount })

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length
const x = (value: number) => `${value.toFixed(3)}×`
const range = (values: number[]) => `${x(Math.min(...values))}–${x(Math.max(...values))}`

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.round(q * (sorted.length - 1))]
}

/**
 * Per framework: each build's CPU µs per request (each process's median over rounds, averaged over
 * processes) and its capacity relative to bare; new/old from pairs, old and new process p measured
 * in the same seconds, so a slow spell of the machine falls on both sides of a pair.
 */
function report(framework: string, cells: Record<Build, Cell>, options: CompareOptions) {
  const cost = (build: Build) => mean(cells[build].cpuMicros.map(median))
  console.log(`\n### ${framework}\n`)
  console.log(
    `${'server'.padEnd(10)} ${'requests/s'.padStart(10)} ${'µs/request'.padStart(11)}  processes (µs/request)`,
  )
  for (const build of builds) {
    const rate = median(cells[build].rates.flat())
    const perProcess = cells[build].cpuMicros.map((process) => median(process).toFixed(1)).join(', ')
    console.log(
      `${build.padEnd(10)} ${Math.round(rate).toLocaleString('en-US').padStart(10)} ${cost(build).toFixed(1).padStart(11)}  ${perProcess}`,
    )
  }
  const toBare = (build: Build) => cost('bare') / cost(build)
  const pairs = (cell: (build: Build) => number[][]) =>
    cell('old').flatMap((process, p) => process.map((old, round) => old / cell('new')[p][round]))
  const cpuPairs = pairs((build) => cells[build].cpuMicros)
  const ratePairs = pairs((build) => cells[build].rates).map((ratio) => 1 / ratio)
  const byRound = Array.from({ length: options.rounds }, (_, round) =>
    median(cpuPairs.filter((_, i) => i % options.rounds === round)),
  )
  const newOld = median(cpuPairs)
  console.log(`capacity vs bare: old ${x(toBare('old'))}, new ${x(toBare('new'))}`)
  console.log(
    `new/old capacity, median of ${cpuPairs.length} pairs: ${x(newOld)} (quartiles ${x(quantile(cpuPairs, 0.25))}–${x(quantile(cpuPairs, 0.75))}, all ${range(cpuPairs)}; by round ${byRound.map((value) => value.toFixed(3)).join(', ')}) — goal ≥ 0.970×: ${newOld >= 0.97 ? 'met' : 'NOT met'}`,
  )
  console.log(`new/old requests/s, median of pairs: ${x(median(ratePairs))} (all ${range(ratePairs)})`)
  return {
    framework,
    oldToBare: toBare('old'),
    newToBare: toBare('new'),
    newOld,
    quartiles: [quantile(cpuPairs, 0.25), quantile(cpuPairs, 0.75)],
  }
}

/** Runs the comparison and prints one section per framework. */
export async function runHttpCompare(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      old: { type: 'string', default: 'd9d53f5' },
      rounds: { type: 'string' },
      seconds: { type: 'string', default: '2' },
      processes: { type: 'string', default: '3' },
      keep: { type: 'boolean', default: false },
      instructions: { type: 'boolean', default: false },
      frameworks: { type: 'string', default: allFrameworks.join(',') },
    },
  })
  const frameworks = values.frameworks.split(',') as Framework[]
  for (const framework of frameworks)
    if (!allFrameworks.includes(framework))
      throw new Error(
        `Unknown framework '${framework}' in --frameworks; expected ${allFrameworks.join(', ')}.`,
      )
  const options: CompareOptions = {
    old: values.old,
    rounds: Number(values.rounds ?? (values.instructions ? 3 : 8)),
    seconds: Number(values.seconds),
    processes: Number(values.processes),
    keep: values.keep,
    instructions: values.instructions,
    frameworks,
  }
  const started = performance.now()
  const root = git(['rev-parse', '--show-toplevel'], process.cwd())
  const dirty = git(['status', '--porcelain', '--untracked-files=no'], root) ? ' + uncommitted changes' : ''
  const old = checkoutOld(root, options.old, options.keep)
  const checkouts: Record<Build, string[]> = { bare: [], old: [old.dir], new: [root] }
  console.log(
    `\n## HTTP: old build ${old.commit.slice(0, 7)} vs new build ${git(['rev-parse', '--short', 'HEAD'], root)}${dirty}`,
  )
  if (!options.instructions)
    console.log(
      `${options.processes} processes per framework and build, ${options.rounds} rounds of ${options.seconds} s with bare, old and new loaded at once (autocannon, 32 connections each);`,
    )
  try {
    if (options.instructions) {
      await compareInstructions(frameworks, old.dir, root, options)
      return
    }
    console.log("µs/request is each server process's own CPU time per request; capacity = bare µs / its µs.")
    const servers = await Promise.all(
      frameworks.map((framework) =>
        Promise.all(
          builds.map((build) =>
            Promise.all(
              Array.from({ length: options.processes }, () =>
                startServer(framework, checkouts[build], './compare-server.ts'),
              ),
            ),
          ),
        ),
      ),
    )
    try {
      const cells = frameworks.map(
        () =>
          Object.fromEntries(
            builds.map((build) => [
              build,
              {
                cpuMicros: Array.from({ length: options.processes }, () => [] as number[]),
                rates: Array.from({ length: options.processes }, () => [] as number[]),
              },
            ]),
          ) as Record<Build, Cell>,
      )
      // Warm-up: a number of requests, not seconds, so a busy machine cannot leave a server cold.
      for (const group of servers) await Promise.all(group.flat().map((server) => warm(server.port, 10_000)))
      for (let round = 0; round < options.rounds; round++) {
        for (let p = 0; p < options.processes; p++) {
          for (let f = 0; f < frameworks.length; f++) {
            // Bare, old and new under load at the same time, each from its own client: whatever
            // else the machine does in those seconds, it does to all three.
            const three = servers[f].map((processes) => processes[p])
            const before = await Promise.all(three.map((server) => server.sample()))
            const rates = await Promise.all(three.map((server) => load(server.port, options.seconds)))
            const after = await Promise.all(three.map((server) => server.sample()))
            builds.forEach((build, b) => {
              cells[f][build].rates[p].push(rates[b])
              cells[f][build].cpuMicros[p].push(
                (after[b].cpuMicros - before[b].cpuMicros) / (after[b].requests - before[b].requests),
              )
            })
          }
        }
      }
      const results = frameworks.map((framework, f) => report(framework, cells[f], options))
      console.log(`\nsummary (old ${old.commit.slice(0, 7)} → new):`)
      for (const result of results)
        console.log(
          `  ${result.framework.padEnd(8)} vs bare old ${x(result.oldToBare)} new ${x(result.newToBare)}; new/old ${x(result.newOld)} (quartiles ${range(result.quartiles)})`,
        )
      console.log(`took ${((performance.now() - started) / 60_000).toFixed(1)} min`)
    } finally {
      for (const server of servers.flat(2)) server.stop()
    }
  } finally {
    old.cleanup()
  }
}

/**
 * Old and new of each framework under callgrind, all counted in the same windows: instructions per
 * request, and new/old (old count / new count, so above 1 means new does less) window by window.
 */
async function compareInstructions(
  frameworks: Framework[],
  oldDir: string,
  newDir: string,
  options: CompareOptions,
) {
  const windows = options.rounds
  const requests = 700
  const warm = 1500
  console.log(
    `instructions per request under callgrind (all threads), ${windows} windows of ${requests} requests after ${warm} to warm up;`,
  )
  console.log(
    'each window counts every server at once, so time-driven work (timers, idle GC) falls alike on old and new.',
  )
  const servers = await Promise.all(
    frameworks.flatMap((framework) => [startCounted(framework, oldDir), startCounted(framework, newDir)]),
  )
  try {
    const counts = await countInstructions(servers, windows, requests, warm)
    for (let f = 0; f < frameworks.length; f++) {
      const [old, now] = [counts[2 * f], counts[2 * f + 1]]
      const ratios = old.map((count, w) => count / now[w])
      const thousands = (values: number[]) => values.map((value) => Math.round(value / 1000)).join(', ')
      console.log(
        `${frameworks[f].padEnd(8)} old ${Math.round(mean(old) / 1000)}k (windows ${thousands(old)}), new ${Math.round(mean(now) / 1000)}k (${thousands(now)}); new/old ${x(mean(old) / mean(now))} (windows ${range(ratios)}) — goal ≥ 0.970×: ${mean(old) / mean(now) >= 0.97 ? 'met' : 'NOT met'}`,
      )
    }
  } finally {
    for (const server of servers) server.stop()
  }
}
