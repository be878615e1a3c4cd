import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster, Redis } from 'ioredis'

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

function requireBinary(name: string): void {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore' })
  } catch {
    // Never skip silently: a missing server is a broken test machine.
    throw new Error(
      `${name} is required by the Redis suites and was not found on PATH. Install Redis 7 (e.g. apt install redis-server).`,
    )
  }
}

/** A redis-server this test started, on a free loopback port. */
export interface RedisProcess {
  readonly port: number
  stop(): Promise<void>
  /** Kills it (SIGKILL) mid-stream, keeping its data folder, so a restart reloads what it persisted. */
  kill(): Promise<void>
  /** Starts it again on the same port (after `stop` or `kill`). */
  restart(): Promise<void>
}

/** Starts a redis-server that keeps nothing on disk. */
export async function startRedis(extra: string[] = []): Promise<RedisProcess> {
  requireBinary('redis-server')
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'llm-limit-redis-'))
  let child: ChildProcess | undefined
  const launch = async () => {
    mkdirSync(dir, { recursive: true })
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        ...extra,
      ],
      { stdio: 'ignore' },
    )
    await waitReady(port)
  }
  await launch()
  const kill = async () => {
    const running = child
    child = undefined
    if (running && running.exitCode === null) {
      await new Promise<void>((resolve) => {
        running.once('exit', () => resolve())
        running.kill('SIGKILL')
      })
    }
  }
  return {
    port,
    async stop() {
      await kill()
      // A restart makes it again; a finished run leaves nothing in the temp folder.
      rmSync(dir, { recursive: true, force: true })
    },
    kill,
    async restart() {
      await launch()
    },
  }
}

async function waitReady(port: number): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const probe = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    })
    probe.on('error', () => {})
    try {
      await probe.connect()
      await probe.ping()
      probe.disconnect()
      return
    } catch {
      probe.disconnect()
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start within 10 s.`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

/** A 3-master Redis Cluster on loopback, built with redis-cli --cluster create. */
export async function startCluster(): Promise<{
  nodes: RedisProcess[]
  client: () => Cluster
  stop(): Promise<void>
}> {
  requireBinary('redis-cli')
  const nodes = await Promise.all(
    [0, 1, 2].map(() =>
      startRedis([
        '--cluster-enabled',
        'yes',
        '--cluster-node-timeout',
        '2000',
        '--cluster-config-file',
        `nodes-${Math.random().toString(36).slice(2)}.conf`,
      ]),
    ),
  )
  execFileSync(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ],
    { stdio: 'ignore' },
  )
  const deadline = Date.now() + 15_000
  for (;;) {
    const info = execFileSync('redis-cli', ['-p', String(nodes[0].port), 'cluster', 'info']).toString()
    if (info.includes('cluster_state:ok')) break
    if (Date.now() > deadline) throw new Error('The test cluster did not reach cluster_state:ok within 15 s.')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const clients: Cluster[] = []
  return {
    nodes,
    client: () => {
      const cluster = new Cluster(
        nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
        { enableOfflineQueue: false },
      )
      clients.push(cluster)
      return cluster
    },
    async stop() {
      for (const cluster of clients) cluster.disconnect()
      await Promise.all(nodes.map((node) => node.stop()))
    },
  }
}

/** A standalone client that never queues offline, as the docs recommend. */
export function redisClient(port: number): Redis {
  return new Redis({
    port,
    host: '127.0.0.1',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 50, 500),
  })
}

/** Waits until an ioredis client is ready. */
export async function ready(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('Redis client did not become ready within 10 s.')),
      10_000,
    )
    client.once('ready', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}
