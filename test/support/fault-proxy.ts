import { connect, createServer, type Server, type Socket } from 'node:net'

/** What the proxy does to traffic between a client and Redis. */
export type FaultMode = 'pass' | 'silent' | 'drop-replies' | 'refuse'

/** A TCP proxy on loopback that can delay, swallow, or refuse traffic, to test Redis faults. */
export interface FaultProxy {
  readonly port: number
  mode: FaultMode
  /** Added latency per chunk, in ms. */
  delayMs: number
  /** Closes every open connection (the client sees a reset). */
  reset(): void
  close(): Promise<void>
}

/** Starts a proxy to 127.0.0.1:`target`. */
export async function startFaultProxy(target: number): Promise<FaultProxy> {
  const sockets = new Set<Socket>()
  let server: Server
  const proxy: FaultProxy = {
    port: 0,
    mode: 'pass',
    delayMs: 0,
    reset() {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    close() {
      proxy.reset()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
  /** Delays a chunk by `delayMs`, never ahead of a chunk sent before it (a stream is never reordered). */
  const ordered = () => {
    let lastDue = 0
    let queue = Promise.resolve()
    return (fn: () => void) => {
      const due = Math.max(Date.now() + proxy.delayMs, lastDue)
      lastDue = due
      if (due <= Date.now()) {
        queue = queue.then(fn)
        return
      }
      queue = queue.then(() => new Promise<void>((resolve) => setTimeout(resolve, due - Date.now()))).then(fn)
    }
  }
  server = createServer((client) => {
    sockets.add(client)
    client.on('error', () => {})
    if (proxy.mode === 'refuse') {
      client.destroy()
      return
    }
    const upstream = connect(target, '127.0.0.1')
    sockets.add(upstream)
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    const toUpstream = ordered()
    const toClient = ordered()
    client.on('data', (chunk) => {
      if (proxy.mode === 'silent') return
      toUpstream(() => upstream.write(chunk))
    })
    upstream.on('data', (chunk) => {
      if (proxy.mode === 'drop-replies' || proxy.mode === 'silent') return
      toClient(() => client.write(chunk))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  Object.assign(proxy, { port: typeof address === 'object' && address ? address.port : 0 })
  return proxy
}
