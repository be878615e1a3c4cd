import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { packPackages, root, sh } from './support/packed-packages.js'
import { freePort } from './support/redis-servers.js'

/**
 * Done means: a fresh project that installs the framework and the packed packages from npm, with
 * the README's quick start copied as written, answers 429 with the headers the README shows.
 */

const FRAMEWORKS = ['Express', 'Koa', 'Hono'] as const

/** The first ```ts block after the README heading `### <title>`. */
function quickStart(readme: string, title: string): string {
  const heading = readme.indexOf(`\n### ${title}\n`)
  if (heading < 0) throw new Error(`README.md has no "### ${title}" section`)
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(heading))
  if (!match) throw new Error(`README.md's "### ${title}" section has no ts block`)
  return match[1]
}

/** The 429 the README shows: its headers (`# name: value` lines) and its body. */
function documented429(readme: string): { headers: Map<string, string>; body: string } {
  const start = readme.indexOf('# HTTP/1.1 429 Too Many Requests')
  const end = readme.indexOf('```', start)
  if (start < 0 || end < 0) throw new Error('README.md shows no 429 response')
  const lines = readme.slice(start, end).split('\n')
  const headers = new Map<string, string>()
  for (const line of lines) {
    const header = /^# ([a-z-]+): (.*)$/i.exec(line)
    if (header) headers.set(header[1].toLowerCase(), header[2])
  }
  const body = lines.find((line) => line.startsWith('# {'))
  if (body === undefined) throw new Error("README.md's 429 shows no body")
  return { headers, body: body.slice(2) }
}

/** Headers whose figures depend on the moment of the request: their digits are not compared. */
const TIMED = new Set([
  'x-ratelimit-reset-requests',
  'x-ratelimit-reset',
  'retry-after',
  'retry-after-ms',
  'ratelimit',
])
const digitless = (text: string) => text.replace(/\d+(\.\d+)?/g, 'N')
const timeless = (body: string) => body.replace(/Retry in \S+\./, 'Retry in N.')

const running: ChildProcess[] = []
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
})

async function startServer(file: string, cwd: string, port: number): Promise<() => string> {
  const child = spawn(process.execPath, [file], { cwd, env: { ...process.env, PORT: String(port) } })
  running.push(child)
  let output = ''
  child.stdout.on('data', (chunk) => {
    output += chunk
  })
  child.stderr.on('data', (chunk) => {
    output += chunk
  })
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${file} exited with ${child.exitCode}:\n${output}`)
    // A TCP connection, not a request: a request would spend one of the five the test counts.
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (up) return () => output
    if (Date.now() > deadline) throw new Error(`${file} did not listen on ${port} within 20 s:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const chat = (port: number) =>
  fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello!' }] }),
  })

describe('from npm install to the first 429, as the README says', () => {
  let consumer: string
  let readme: string
  beforeAll(async () => {
    readme = await readFile(join(root, 'README.md'), 'utf8')
    const tarballs = await packPackages()
    consumer = await mkdtemp(join(tmpdir(), 'llm-limit-consumer-'))
    await writeFile(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2),
    )
    // One install for the three frameworks: what the README's install lines add, plus the types a
    // TypeScript user adds. --prefer-offline lets a warm npm cache answer without the network.
    await sh(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--loglevel=error',
        'express',
        'koa',
        'hono',
        '@hono/node-server',
        '@types/express',
        '@types/koa',
        '@types/node@^20',
        tarballs.core,
        tarballs.express,
        tarballs.koa,
        tarballs.hono,
      ],
      consumer,
      300_000,
    )
    for (const framework of FRAMEWORKS) {
      const code = quickStart(readme, framework)
      const name = framework.toLowerCase()
      // The quick starts are TypeScript that is also plain JavaScript: Node runs them as written.
      await writeFile(join(consumer, `${name}.mjs`), code)
      await writeFile(join(consumer, `${name}.ts`), code)
    }
  }, 400_000)

  afterAll(async () => {
    if (consumer) await rm(consumer, { recursive: true, force: true })
  })

  it('the quick starts type-check under strict against the packed types', async () => {
    await writeFile(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          esModuleInterop: true,
          types: ['node'],
        },
        include: ['*.ts'],
      }),
    )
    await sh(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], consumer)
  }, 120_000)

  it.each(FRAMEWORKS)(
    '%s: five answers, then the 429 with the documented headers and body',
    async (framework) => {
      const port = await freePort()
      const output = await startServer(`${framework.toLowerCase()}.mjs`, consumer, port)
      const statuses: number[] = []
      let denied: Response | undefined
      for (let i = 0; i < 6; i++) {
        const response = await chat(port)
        statuses.push(response.status)
        if (response.status === 429) denied = response
        else await response.arrayBuffer()
      }
      expect(statuses, output()).toEqual([200, 200, 200, 200, 200, 429])
      const response = denied as Response
      const { headers, body } = documented429(readme)
      expect(headers.size).toBeGreaterThanOrEqual(10)
      for (const [name, value] of headers) {
        const actual = response.headers.get(name)
        expect(actual, `${framework}: header ${name}`).not.toBeNull()
        if (name === 'content-type') expect(actual).toMatch(/^application\/json/)
        else if (TIMED.has(name))
          expect(digitless(actual as string), `${framework}: ${name}`).toBe(digitless(value))
        else expect(actual, `${framework}: header ${name}`).toBe(value)
      }
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expect(timeless(await response.text())).toBe(timeless(body))
    },
  )
})
