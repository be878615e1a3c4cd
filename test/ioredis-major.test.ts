import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)

/**
 * The Redis suites run once per supported ioredis major (vitest projects `unit` and `ioredis6`);
 * this proves each run really loads the major it claims, here and in the worker processes.
 */
describe('the ioredis major under test', () => {
  const expected = process.env.LLM_LIMIT_IOREDIS_MAJOR
  it('is named by the vitest project', () => {
    expect(expected, 'run through vitest.config.ts, whose projects set LLM_LIMIT_IOREDIS_MAJOR').toMatch(
      /^[56]$/,
    )
  })

  it('is the one this process loaded', async () => {
    const { default: manifest } = await import('ioredis/package.json', { with: { type: 'json' } })
    expect(manifest.version.split('.')[0]).toBe(expected)
    expect(typeof Redis).toBe('function')
  })

  it('is the one a worker process loads', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import('ioredis/package.json', { with: { type: 'json' } }).then((m) => console.log(m.default.version))",
      ],
      { cwd: fileURLToPath(new URL('./support/', import.meta.url)) },
    )
    expect(stdout.trim().split('.')[0]).toBe(expected)
  })
})
