// `tsx micro-callers-counted.ts [callers...]` (default 1000): the 3-rule check and
// rate-limiter-flexible's consume under valgrind's cachegrind, counting per decision the instructions
// executed and the data reads and writes that miss a simulated 32 KB L1 and a 512 KB L2 (the
// per-core caches of the EPYC machines this runs on). Unlike CPU time, these counts hardly depend
// on what else the machine runs, so they tell apart changes of a few percent that timings on a
// shared machine cannot. Each side runs twice, with 100,000 and 1,100,000 measured decisions after
// the same warm-up; the difference of the two runs' totals over 1,000,000 decisions leaves out start-up,
// compilation and warm-up. Each run takes a minute or two.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type CallerOp, callerOps } from './micro-callers.js'

/** Per-decision counts of one side. */
interface Counts {
  instructions: number
  l1Misses: number
  l2Misses: number
}

const SHORT = 100_000
const LONG = 1_100_000

/** Every caller once, then at least 300,000 decisions and 7 s (past the sliding rule's first sub-window). */
async function warmUp(op: CallerOp, callers: number): Promise<number> {
  let at = 0
  for (; at < callers; at++) await op(at)
  const started = performance.now()
  while (at < 300_000 || performance.now() - started < 7000) at = await run(op, at, 1000)
  return at
}

/** `count` decisions from caller `from` on; a function of its own, so the loop is compiled like the rest. */
async function run(op: CallerOp, from: number, count: number): Promise<number> {
  for (let i = 0; i < count; i++) await op(from + i)
  return from + count
}

/** Totals of one cachegrind run of `side` with `count` measured decisions. */
async function countRun(side: 'ours' | 'rlf', callers: number, count: number): Promise<Counts> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-limit-cachegrind-'))
  try {
    const { stderr } = await promisify(execFile)(
      'valgrind',
      [
        '--tool=cachegrind',
        '--cache-sim=yes',
        '--D1=32768,8,64',
        '--LL=524288,8,64',
        `--cachegrind-out-file=${join(dir, 'out')}`,
        process.execPath,
        // One GC thread and a fixed young generation: collections come at the same points in every run.
        '--single-threaded-gc',
        '--min-semi-space-size=16',
        '--max-semi-space-size=16',
        '--import',
        'tsx',
        fileURLToPath(import.meta.url),
        '--child',
        side,
        String(callers),
        String(count),
      ],
      { maxBuffer: 1 << 24 },
    )
    const total = (label: string) => {
      const match = new RegExp(`${label}:\\s+([\\d,]+)`).exec(stderr)
      if (!match) throw new Error(`cachegrind printed no "${label}" total:\n${stderr.slice(-2000)}`)
      return Number(match[1].replaceAll(',', ''))
    }
    return {
      instructions: total('I\\s+refs'),
      l1Misses: total('D1\\s+misses'),
      l2Misses: total('LLd misses'),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Per-decision counts of `side`: the long run's totals less the short run's, over their difference. */
async function countSide(side: 'ours' | 'rlf', callers: number): Promise<Counts> {
  // The two runs share the machine's two cores.
  const [short, long] = await Promise.all([countRun(side, callers, SHORT), countRun(side, callers, LONG)])
  const each = (key: keyof Counts) => (long[key] - short[key]) / (LONG - SHORT)
  return { instructions: each('instructions'), l1Misses: each('l1Misses'), l2Misses: each('l2Misses') }
}

const child = process.argv.indexOf('--child')
if (child >= 0) {
  const [side, callers, count] = process.argv.slice(child + 1)
  const op = callerOps(Number(callers))[side as 'ours' | 'rlf']
  await run(op, await warmUp(op, Number(callers)), Number(count))
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = process.argv.slice(2).map(Number)
  for (const callers of sizes.length > 0 ? sizes : [1000]) {
    const ours = await countSide('ours', callers)
    const rlf = await countSide('rlf', callers)
    const line = (name: string, counts: Counts) =>
      `  ${name.padEnd(32)} ${counts.instructions.toFixed(0).padStart(8)} ${counts.l1Misses.toFixed(1).padStart(10)} ${counts.l2Misses.toFixed(1).padStart(10)}`
    console.log(
      `\n${callers.toLocaleString('en-US')} callers, per decision: instructions, L1 data misses, L2 data misses`,
    )
    console.log(line('llm-limit 3 rules', ours))
    console.log(line('rate-limiter-flexible consume', rlf))
    console.log(
      `  rlf/ours: instructions ${(rlf.instructions / ours.instructions).toFixed(2)}×, L2 misses ${(rlf.l2Misses / ours.l2Misses).toFixed(2)}×`,
    )
  }
}
