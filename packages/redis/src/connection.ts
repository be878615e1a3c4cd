import { LlmLimitError } from '@llm-limit/core'
import type { Cluster, Redis } from 'ioredis'

/** Statuses of a client on its way to a first connection: worth waiting for. */
const FIRST_CONNECTION = new Set(['wait', 'connecting', 'connect'])

/** Epoch ms that never goes back (Date.now can be set back, or skewed by a test). */
export const epochNow = (): number => performance.timeOrigin + performance.now()

/** Who wants to know when a client becomes ready: one listener per client, however many stores share it. */
const watchers = new WeakMap<Redis | Cluster, Set<() => void>>()

function watchReady(client: Redis | Cluster, onReady: () => void): () => void {
  let set = watchers.get(client)
  if (!set) {
    const created = new Set<() => void>()
    set = created
    watchers.set(client, created)
    client.on('ready', () => {
      for (const listener of created) listener()
    })
  }
  set.add(onReady)
  return () => set.delete(onReady)
}

const unavailable = (status: string) =>
  new LlmLimitError(
    'ERR_STORE_UNAVAILABLE',
    `Redis is not connected (status '${status}'); the decision was not sent. Check that Redis is reachable; onStoreError decides meanwhile.`,
  )

/**
 * The store's view of an ioredis client: whether a command may go now (a client still making its first connection
 * is waited for; one that lost its connection fails fast), and Redis's clock relative to ours, learnt from replies,
 * so a command can carry a deadline in Redis time.
 */
export class Connection {
  private everReady: boolean
  private first: Promise<void> | undefined
  private readonly unwatch: () => void
  /** Most of Redis TIME minus our clock seen in a reply (a lower bound of the true offset); unknown before one. */
  private offset = Number.NEGATIVE_INFINITY
  private readonly onReady = () => {
    this.everReady = true
    // Another server may answer after a reconnect (a failover); learn its clock anew.
    this.offset = Number.NEGATIVE_INFINITY
    this.ready()
  }

  constructor(
    readonly client: Redis | Cluster,
    /** Called whenever the client becomes ready. */
    private readonly ready: () => void,
  ) {
    this.everReady = client.status === 'ready'
    this.unwatch = watchReady(client, this.onReady)
  }

  /**
   * Undefined when a command may be sent now; a promise that resolves when a first connection completes within
   * `waitMs`; a rejected promise at once when the connection was lost (or never started).
   */
  whenReady(waitMs: number): Promise<void> | undefined {
    const client = this.client
    const status = client.status
    if (status === 'ready') return undefined
    if (this.everReady || !FIRST_CONNECTION.has(status)) return Promise.reject(unavailable(status))
    this.first ??= this.firstConnection()
    let timer: ReturnType<typeof setTimeout> | undefined
    return Promise.race([
      this.first,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new LlmLimitError(
                'ERR_STORE_TIMEOUT',
                `Redis did not finish connecting within ${waitMs} ms (timeoutMs); the decision was not sent.`,
              ),
            ),
          waitMs,
        )
      }),
    ]).finally(() => clearTimeout(timer))
  }

  /** One shared wait for the first 'ready' (or the first failure), whatever the number of waiting decisions. */
  private firstConnection(): Promise<void> {
    const client = this.client
    if (client.status === 'wait') client.connect().catch(() => {})
    return new Promise<void>((resolve, reject) => {
      const done = (error?: LlmLimitError) => {
        client.off('ready', onReady)
        client.off('close', onClose)
        client.off('end', onClose)
        this.first = undefined
        if (error) reject(error)
        else resolve()
      }
      const onReady = () => done()
      const onClose = () => done(unavailable(client.status))
      client.on('ready', onReady)
      client.on('close', onClose)
      client.on('end', onClose)
    })
  }

  /** Learns from a reply: Redis said `redisNow` (epoch ms) before we received it at `receivedAt` (epochNow). */
  observe(redisNow: number, receivedAt: number): void {
    const offset = redisNow - receivedAt
    if (offset > this.offset) this.offset = offset
  }

  /**
   * The Redis time by which a command must run so that it ran before we gave up at `giveUpAt` (epochNow), or 0
   * while Redis's clock is unknown. Runs later are refused by the script, so a late command is never applied.
   */
  deadline(giveUpAt: number): number {
    return this.offset === Number.NEGATIVE_INFINITY ? 0 : Math.floor(giveUpAt + this.offset)
  }

  close(): void {
    this.unwatch()
  }
}
