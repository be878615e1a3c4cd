import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisProcess, startRedis } from './support/redis-servers.js'
import { exampleDir, requireRuntime } from './support/runtimes.js'

const run = promisify(execFile)
let redis: RedisProcess

beforeAll(async () => {
  redis = await startRedis()
})

afterAll(async () => {
  await redis?.stop()
})

/** examples/hono-edge/src/redis-check.ts under each runtime, the way its README runs it. */
const COMMANDS: Record<'node' | 'bun' | 'deno', string[]> = {
  node: [`${exampleDir}../../node_modules/.bin/tsx`, '--conditions=source'],
  bun: [`${exampleDir}node_modules/.bin/bun`, '--conditions=source'],
  deno: [
    `${exampleDir}node_modules/.bin/deno`,
    'run',
    '--allow-net',
    '--allow-env',
    '--allow-read',
    '--conditions=source',
    '--sloppy-imports',
  ],
}

describe.each(Object.keys(COMMANDS) as (keyof typeof COMMANDS)[])(
  'the Redis store (ioredis) on %s',
  (runtime) => {
    it('admits exactly 5 of 10 requests, one after another and all at once', async () => {
      requireRuntime(runtime)
      const [binary, ...args] = COMMANDS[runtime]
      const { stdout } = await run(binary, [...args, 'src/redis-check.ts', String(redis.port)], {
        cwd: exampleDir,
        env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
        timeout: 60_000,
      })
      expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ sequential: 5, concurrent: 5 })
    }, 90_000)
  },
)
