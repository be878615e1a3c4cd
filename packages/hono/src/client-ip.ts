import { clientIpFromForwarded } from '@llm-limit/core'
import type { Context } from 'hono'

/** What each runtime's server hands Hono as `c.env`, as far as the peer address goes. */
interface PeerSources {
  /** @hono/node-server: Node's own request. */
  incoming?: { socket?: { remoteAddress?: string } }
  /** Bun.serve's server (`export default app` or `Bun.serve({ fetch: app.fetch })`). */
  requestIP?: (request: Request) => { address?: string } | null
  /** Deno.serve's handler info (`Deno.serve((req, info) => app.fetch(req, info))`). */
  remoteAddr?: { hostname?: string }
}

/** workerd names itself here; no client can set it, unlike a request header. */
const ON_WORKERS =
  (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent === 'Cloudflare-Workers'

/**
 * The address of the peer as the runtime's own server reports it: Node's socket, Bun's
 * `server.requestIP()`, Deno's `info.remoteAddr`, or on Cloudflare Workers the `CF-Connecting-IP`
 * header, which Cloudflare's edge sets and overwrites. Undefined when the runtime gives none.
 */
export function peerAddress(c: Context): string | undefined {
  const env = c.env as PeerSources | undefined
  if (env !== undefined && env !== null) {
    const socket = env.incoming?.socket?.remoteAddress
    if (socket !== undefined) return socket
    if (typeof env.requestIP === 'function') {
      try {
        return env.requestIP(c.req.raw)?.address ?? undefined
      } catch {
        // A Request Bun did not receive itself (built by a test or a sub-app) has no peer.
        return undefined
      }
    }
    const deno = env.remoteAddr?.hostname
    if (typeof deno === 'string') return deno
  }
  return ON_WORKERS ? (c.req.raw.headers.get('cf-connecting-ip') ?? undefined) : undefined
}

/**
 * The client IP on any runtime: the peer address, or the first untrusted hop of `X-Forwarded-For`
 * when the peer is one of `trustedProxies`.
 */
export function runtimeIp(trustedProxies: readonly string[]): (c: Context) => string | undefined {
  if (trustedProxies.length === 0) return peerAddress
  return (c) => {
    const peer = peerAddress(c)
    if (peer === undefined) return undefined
    return clientIpFromForwarded(peer, c.req.header('x-forwarded-for'), trustedProxies)
  }
}
