import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisProcess, startRedis } from './support/redis-servers.js'

const run = promisify(execFile)
const worker = fileURLToPath(new URL('./support/exactness-worker.ts', import.meta.url))

let redis: RedisProcess
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})

/** 4 processes × 16 concurrent clients, each process sending `perProcess` requests, app clocks skewed as given. */
async function admittedAcross(mode: string, perProcess: number, skews: number[]): Promise<number> {
  const prefix = `exact-${mode}-${Math.random().toString(36).slice(2)}:`
  const outputs = await Promise.all(
    skews.map((skew) =>
      run(
        process.execPath,
        [
          '--import',
          'tsx',
          '--conditions=source',
          worker,
          String(redis.port),
          mode,
          String(perProcess),
          '16',
          String(skew),
          prefix,
        ],
        {
          cwd: fileURLToPath(new URL('.', import.meta.url)),
        },
      ),
    ),
  )
  return outputs.reduce((total, { stdout }) => {
    const { admitted } = JSON.parse(stdout) as { admitted: number }
    return total + admitted
  }, 0)
}

describe('exactness across processes (Redis)', () => {
  it('4 processes × 16 clients × 10,000 requests against a limit of 1,000 admit exactly 1,000', async () => {
    expect(await admittedAcross('requests', 10_000, [0, 0, 0, 0])).toBe(1000)
  }, 120_000)

  it('the same for a token rule', async () => {
    expect(await admittedAcross('tokens', 10_000, [0, 0, 0, 0])).toBe(1000)
  }, 120_000)

  it('app clocks skewed by ±30 s do not change how many are admitted', async () => {
    expect(await admittedAcross('requests', 5_000, [-30_000, -10_000, 10_000, 30_000])).toBe(1000)
  }, 120_000)

  it('negative control: a naive get-then-set store in the same harness over-admits', async () => {
    expect(await admittedAcross('naive', 2_000, [0, 0, 0, 0])).toBeGreaterThan(1000)
  }, 120_000)
})
