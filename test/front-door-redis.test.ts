import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type PackageName, packPackages, sh, shOutput } from './support/packed-packages.js'
import { type RedisProcess, startRedis } from './support/redis-servers.js'

/**
 * `npm install ioredis@5` and `ioredis@6` next to the packed @llm-limit/redis both install without
 * a peer warning, and the store admits and denies with either client.
 */

const SCRIPT = `
import { Redis } from 'ioredis'
import { createLimiter } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'

const client = new Redis(Number(process.argv[2]), '127.0.0.1', { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
client.on('error', (error) => console.error('redis:', error.message))
// Waits for the first connection: this test is about the client major, not about startup (docs/stores.md).
await new Promise((resolve) => client.once('ready', resolve))
const limiter = createLimiter({
  store: redisStore({ client, timeoutMs: 2000 }),
  rules: [{ name: 'two', by: 'ip', requests: 2, per: '1m' }],
})
const request = { method: 'GET', path: '/', headers: {}, ip: '192.0.2.' + process.pid % 250 }
const allowed = []
for (let i = 0; i < 3; i++) {
  const decision = await limiter.check(request)
  allowed.push(decision.allowed || decision.reason + ': ' + decision.message)
}
const { version } = JSON.parse(await (await import('node:fs/promises')).readFile('node_modules/ioredis/package.json', 'utf8'))
console.log(JSON.stringify({ version, allowed }))
client.disconnect()
`

describe('@llm-limit/redis next to ioredis 5 and 6, as npm installs them', () => {
  let tarballs: Record<PackageName, string>
  let redis: RedisProcess
  const dirs: string[] = []
  beforeAll(async () => {
    redis = await startRedis()
    tarballs = await packPackages()
  }, 240_000)
  afterAll(async () => {
    await redis?.stop()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it.each([5, 6])(
    'ioredis@%i installs without a peer warning and the store decides',
    async (major) => {
      const dir = await mkdtemp(join(tmpdir(), `llm-limit-ioredis${major}-`))
      dirs.push(dir)
      await writeFile(
        join(dir, 'package.json'),
        JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
      )
      const install = await shOutput(
        'npm',
        [
          'install',
          '--no-audit',
          '--no-fund',
          '--prefer-offline',
          '--loglevel=warn',
          `ioredis@${major}`,
          tarballs.core,
          tarballs.redis,
        ],
        dir,
        300_000,
      )
      expect(`${install.stdout}\n${install.stderr}`).not.toMatch(/peer|ERESOLVE|conflicting/i)
      await writeFile(join(dir, 'check.mjs'), SCRIPT)
      const output = await sh(process.execPath, ['check.mjs', String(redis.port)], dir)
      const result = JSON.parse(output.trim().split('\n').at(-1) as string) as {
        version: string
        allowed: (boolean | string)[]
      }
      expect(result.version.split('.')[0]).toBe(String(major))
      expect(result.allowed).toEqual([true, true, expect.stringMatching(/^requests: /)])
    },
    300_000,
  )
})
