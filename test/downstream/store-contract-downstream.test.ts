import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const fixture = fileURLToPath(new URL('./fixture/', import.meta.url))
const vitestBin = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url))

interface AssertionResult {
  fullName: string
  status: 'passed' | 'failed' | 'skipped' | 'pending' | 'todo'
}
interface Report {
  testResults: { name: string; assertionResults: AssertionResult[] }[]
}

/**
 * A custom store's author, in their own project: `vitest run` on test files written only against
 * `@llm-limit/testing` and `@llm-limit/core`. The memory store passes the exported contract; a store
 * that charges rule by rule fails it, in exactly the all-or-nothing tests; the real SDKs read the
 * fake upstreams.
 */
describe('the exported store contract, run by a downstream project', () => {
  let report: Report
  let exitCode = 0
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-limit-downstream-'))
    const output = join(dir, 'report.json')
    // A clean environment: the nested vitest must not think it is a worker of this one.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !/^(VITEST|NODE_OPTIONS$|TEST$)/.test(name)),
    )
    await run(process.execPath, [vitestBin, 'run', '--reporter=json', `--outputFile=${output}`], {
      cwd: fixture,
      env,
    }).catch((error: { code?: number }) => {
      exitCode = error.code ?? 1
    })
    report = JSON.parse(await readFile(output, 'utf8')) as Report
  }, 120_000)
  afterAll(() => rm(dir, { recursive: true, force: true }))

  const results = (file: string) =>
    report.testResults.find((result) => result.name.endsWith(file))?.assertionResults ?? []

  it('vitest exits non-zero: the broken store fails the run', () => {
    expect(exitCode).toBe(1)
  })

  it('the memory store passes every contract test', () => {
    const memory = results('memory-store.test.ts')
    expect(memory.length).toBeGreaterThanOrEqual(15)
    expect(memory.filter((test) => test.status !== 'passed')).toEqual([])
  })

  it('the real OpenAI and Anthropic SDKs read the fake upstreams (usage, every ending)', () => {
    const sdk = results('fake-upstream.test.ts')
    expect(sdk.length).toBe(4)
    expect(sdk.filter((test) => test.status !== 'passed')).toEqual([])
  })

  it('the rule-by-rule store fails the all-or-nothing tests, and only those', () => {
    const broken = results('broken-store.test.ts')
    expect(broken.length).toBe(results('memory-store.test.ts').length)
    const failed = broken
      .filter((test) => test.status === 'failed')
      .map((test) => test.fullName.replace('store contract: rule-by-rule (broken) ', ''))
    expect(failed.sort()).toEqual([
      'concurrent decisions are each exact and all-or-nothing',
      'is all-or-nothing across identities (hash slots)',
      'is all-or-nothing: a denial by the third check leaves the first two as they were',
    ])
    expect(broken.filter((test) => test.status !== 'failed' && test.status !== 'passed')).toEqual([])
  })
})
