import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { freePort } from './redis-servers.js'

/** The runtimes examples/hono-edge runs on, each started by its package script. */
export const RUNTIMES = ['node', 'bun', 'deno', 'workerd'] as const
/** One of `RUNTIMES`. */
export type Runtime = (typeof RUNTIMES)[number]

/** examples/hono-edge, whose devDependencies bring bun, deno and workerd (through miniflare). */
export const exampleDir = fileURLToPath(new URL('../../examples/hono-edge/', import.meta.url))

/**
 * Fails loudly when a runtime's binary is missing or does not run: each comes from the example's
 * own devDependencies (`pnpm install` runs their postinstall, allowed in pnpm-workspace.yaml).
 */
export function requireRuntime(runtime: Runtime): void {
  if (runtime === 'node') return
  let binary: string
  if (runtime === 'workerd') {
    const fromMiniflare = createRequire(createRequire(`${exampleDir}package.json`).resolve('miniflare'))
    binary = (fromMiniflare('workerd') as { default: string }).default
  } else binary = `${exampleDir}node_modules/.bin/${runtime}`
  try {
    if (!existsSync(binary)) throw new Error(`${binary} does not exist`)
    execFileSync(binary, ['--version'], { stdio: 'pipe' })
  } catch (error) {
    throw new Error(
      `The ${runtime} binary of examples/hono-edge does not run (${String(error)}). Run \`pnpm install --frozen-lockfile\` at the repository root; pnpm-workspace.yaml must list bun, deno and workerd under onlyBuiltDependencies.`,
    )
  }
}

/** A running example server. */
export interface RuntimeServer {
  runtime: Runtime
  url: string
  output: () => string
  stop: () => void
}

/** Starts `pnpm run start:<runtime>` in examples/hono-edge on a free port and waits for its URL. */
export async function startRuntime(runtime: Runtime): Promise<RuntimeServer> {
  requireRuntime(runtime)
  const port = await freePort()
  const child: ChildProcess = spawn('pnpm', ['run', `start:${runtime}`], {
    cwd: exampleDir,
    env: { ...process.env, PORT: String(port), DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
    detached: true,
  })
  let output = ''
  child.stdout?.on('data', (chunk) => {
    output += chunk
  })
  child.stderr?.on('data', (chunk) => {
    output += chunk
  })
  const stop = () => {
    // The whole process group: pnpm, the runtime, and workerd under miniflare.
    if (child.pid && child.exitCode === null) process.kill(-child.pid, 'SIGKILL')
  }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stop()
      reject(new Error(`start:${runtime} did not print its URL within 90 s:\n${output}`))
    }, 90_000)
    const check = () => {
      if (output.includes(`http://127.0.0.1:${port}/v1`)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', check)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`start:${runtime} exited with ${code}:\n${output}`))
    })
  })
  return { runtime, url: `http://127.0.0.1:${port}`, output: () => output, stop }
}
