import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** The repository root. */
export const root = fileURLToPath(new URL('../..', import.meta.url))

/** The published packages, by directory under packages/. */
export const PUBLISHED = ['core', 'express', 'koa', 'hono', 'redis', 'client', 'testing', 'workers'] as const

/** A published package's directory name. */
export type PackageName = (typeof PUBLISHED)[number]

/** Runs a command in `cwd` and returns its stdout; a failure carries the command's own output. */
export async function sh(command: string, args: string[], cwd: string, timeout = 240_000): Promise<string> {
  return (await shOutput(command, args, cwd, timeout)).stdout
}

/** Runs a command in `cwd` and returns its stdout and stderr; a failure carries both. */
export async function shOutput(
  command: string,
  args: string[],
  cwd: string,
  timeout = 240_000,
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(command, args, { cwd, timeout, maxBuffer: 64 * 1024 * 1024 })
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string }
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`)
  }
}

/**
 * Test files run in parallel: one builds and packs at a time, so two turbo builds never write the
 * same dist/ at once. The lock is a directory (mkdir is atomic) holding the owner's pid, taken over
 * when that process is gone.
 */
async function withLock<T>(work: () => Promise<T>): Promise<T> {
  const lock = join(root, 'node_modules', '.cache', 'llm-limit-pack.lock')
  await mkdir(join(root, 'node_modules', '.cache'), { recursive: true })
  for (;;) {
    try {
      await mkdir(lock)
      await writeFile(join(lock, 'pid'), String(process.pid))
      break
    } catch {
      const owner = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => 'NaN'))
      let alive = Number.isInteger(owner)
      try {
        if (alive) process.kill(owner, 0)
      } catch {
        alive = false
      }
      if (!alive) await rm(lock, { recursive: true, force: true })
      else await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
  try {
    return await work()
  } finally {
    await rm(lock, { recursive: true, force: true })
  }
}

/**
 * Builds the published packages (turbo: a no-op when dist/ is current) and packs each with
 * `pnpm pack`, which writes real versions where package.json says `workspace:`. Returns each
 * package's tarball path in a fresh temporary directory.
 */
export async function packPackages(): Promise<Record<PackageName, string>> {
  const destination = await mkdtemp(join(tmpdir(), 'llm-limit-pack-'))
  await withLock(async () => {
    await sh('pnpm', ['turbo', 'run', 'build', '--filter=./packages/*', '--output-logs=errors-only'], root)
    for (const name of PUBLISHED) {
      await sh('pnpm', ['pack', '--pack-destination', destination], join(root, 'packages', name))
    }
  })
  const files = await readdir(destination)
  const tarballs = {} as Record<PackageName, string>
  for (const name of PUBLISHED) {
    const file = files.find((candidate) => candidate.startsWith(`llm-limit-${name}-`))
    if (file === undefined)
      throw new Error(`pnpm pack wrote no tarball for @llm-limit/${name} in ${destination}`)
    tarballs[name] = join(destination, file)
  }
  return tarballs
}
