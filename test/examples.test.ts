import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { freePort, type RedisProcess, startRedis } from './support/redis-servers.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const running: ChildProcess[] = []

/** Starts a command the way a README shows it and waits for its first line of output. */
async function start(args: string[], env: Record<string, string>): Promise<{ output: () => string }> {
  const child = spawn('pnpm', args, { cwd: root, env: { ...process.env, ...env }, detached: true })
  running.push(child)
  let output = ''
  child.stdout?.on('data', (chunk) => {
    output += chunk
  })
  child.stderr?.on('data', (chunk) => {
    output += chunk
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${args.join(' ')} did not start within 60 s:\n${output}`)),
      60_000,
    )
    const check = () => {
      if (/http:\/\/127\.0\.0\.1|answer:/.test(output)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', check)
    child.once('exit', (code) => {
      check()
      if (!/answer:/.test(output)) reject(new Error(`${args.join(' ')} exited with ${code}:\n${output}`))
    })
  })
  return { output: () => output }
}

afterEach(() => {
  for (const child of running.splice(0)) {
    // The whole process group: pnpm, tsx and the server.
    if (child.pid && child.exitCode === null) process.kill(-child.pid, 'SIGKILL')
  }
})

const chat = (port: number) =>
  fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hello!' }],
      max_tokens: 20,
    }),
  })

/** The README's curl loop: 200s, then 429s with Retry-After and x-ratelimit-* headers. */
async function curlLoop(port: number, times: number, send: (port: number) => Promise<Response> = chat) {
  const responses: Response[] = []
  for (let i = 0; i < times; i++) responses.push(await send(port))
  return responses
}

function expectLimited(responses: Response[], admitted: number, rule: string) {
  expect(responses.map((response) => response.status)).toEqual([
    ...Array(admitted).fill(200),
    ...Array(responses.length - admitted).fill(429),
  ])
  const denied = responses[admitted]
  expect(Number(denied.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
  expect(Number(denied.headers.get('retry-after-ms'))).toBeGreaterThan(0)
  expect(denied.headers.get('x-ratelimit-remaining-requests')).toBe('0')
  expect(denied.headers.get('ratelimit-policy')).toContain(`"${rule}"`)
}

/** A chat request with no JSON body reaches the demo's handler, which answers a JSON 400, not a 5xx. */
async function expectBodyRequired(port: number) {
  // ip-burst refills one request every 2 s, and the loop before this one used them all up.
  await new Promise((resolve) => setTimeout(resolve, 2100))
  const bare = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST' })
  expect(bare.status).toBe(400)
  expect((await bare.json()) as object).toMatchObject({ error: { code: 'invalid_request' } })
}

describe('examples start with one command and answer as their READMEs show', () => {
  let redis: RedisProcess
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('the README demo: pnpm demo (express-openai-proxy), offline', async () => {
    const port = await freePort()
    await start(['demo'], { PORT: String(port), UPSTREAM_URL: '', OPENAI_API_KEY: '' })
    const responses = await curlLoop(port, 8)
    expectLimited(responses, 5, 'ip-burst')
    const body = (await responses[0].json()) as {
      usage: { prompt_tokens: number; completion_tokens: number }
    }
    expect(body.usage.prompt_tokens).toBeGreaterThan(0)
    expect((await responses[5].json()) as object).toMatchObject({
      error: { code: 'rate_limit_exceeded', type: 'requests' },
    })
    const malformed = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model":',
    })
    expect(malformed.status).toBe(400)
    expect((await malformed.json()) as object).toMatchObject({ error: { code: 'invalid_request' } })
    // Outside /v1, so the exhausted ip-burst limit does not answer first.
    const unknown = await fetch(`http://127.0.0.1:${port}/models`)
    expect(unknown.status).toBe(404)
    expect((await unknown.json()) as object).toMatchObject({ error: { code: 'unknown_url' } })
    await expectBodyRequired(port)
  }, 90_000)

  it.each([
    ['koa-proxy', 7],
    ['hono-proxy', 7],
  ])(
    '%s',
    async (name, times) => {
      const port = await freePort()
      await start(['--filter', name, 'start'], { PORT: String(port) })
      expectLimited(await curlLoop(port, times), 5, 'ip-burst')
      await expectBodyRequired(port)
      if (name === 'hono-proxy') {
        // Outside /v1, where the limiter is not mounted.
        const unknown = await fetch(`http://127.0.0.1:${port}/models`)
        expect(unknown.status).toBe(404)
        expect((await unknown.json()) as object).toMatchObject({ error: { code: 'unknown_url' } })
      }
    },
    90_000,
  )

  it('redis-cluster: four processes share one exact limit', async () => {
    const port = await freePort()
    await start(['--filter', 'redis-cluster', 'start'], {
      PORT: String(port),
      REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      WORKERS: '4',
    })
    const responses = await curlLoop(port, 12, (p) =>
      fetch(`http://127.0.0.1:${p}/`, { headers: { connection: 'close' } }),
    )
    expectLimited(responses, 10, 'fleet-rpm')
  }, 90_000)

  it('client-backoff', async () => {
    const run = await start(['--filter', 'client-backoff', 'start'], {})
    const deadline = Date.now() + 30_000
    while (!/answer:/.test(run.output()) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50))
    expect(run.output()).toMatch(/retry 1: status 429, waiting 1000 ms/)
    expect(run.output()).toMatch(/answer: Hello after backing off! \(after \d+ ms, 2 upstream calls\)/)
  }, 90_000)
})
