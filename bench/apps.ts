// The apps every benchmark server wraps, and the protocol a server speaks with the bench that forked it.
import type { Server } from 'node:http'
import { serve } from '@hono/node-server'
import express from 'express'
import { Hono, type MiddlewareHandler } from 'hono'
import Koa from 'koa'

const huge = 1e9

/** Three request rules by IP, never reached: the limiter's full path on every request. */
export const rules = [
  { name: 'burst', by: 'ip' as const, requests: huge, per: '1s' as const },
  {
    name: 'minute',
    by: 'ip' as const,
    requests: huge,
    per: '1m' as const,
    algorithm: 'sliding-window' as const,
  },
  { name: 'hour', by: 'ip' as const, requests: huge, per: '1h' as const, algorithm: 'fixed-window' as const },
]

/** Starts an app on a port; calls back when it listens. */
export type Listen = (port: number) => Server

const ready = () => process.send?.({ ready: true })

/** Koa with an optional middleware before a `{ ok: true }` handler. */
export function koaApp(middleware?: Koa.Middleware): Listen {
  const app = new Koa()
  if (middleware) app.use(middleware)
  app.use((ctx) => {
    ctx.body = { ok: true }
  })
  return (port) => app.listen(port, '127.0.0.1', ready)
}

/** Hono on @hono/node-server with an optional middleware before a `{ ok: true }` handler. */
export function honoApp(middleware?: MiddlewareHandler): Listen {
  const app = new Hono()
  if (middleware) app.use(middleware)
  app.get('/', (c) => c.json({ ok: true }))
  return (port) => serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, ready) as Server
}

/** Express with an optional middleware before a `{ ok: true }` handler. */
export function expressApp(middleware?: express.RequestHandler): Listen {
  const app = express()
  app.disable('x-powered-by')
  if (middleware) app.use(middleware)
  app.get('/', (_req, res) => {
    res.json({ ok: true })
  })
  return (port) => app.listen(port, '127.0.0.1', ready)
}

/**
 * Answers the parent's samples: this process's CPU time and request count, asked for around each
 * load round, so the server's own cost per request is measured even when the load generator is the
 * bottleneck.
 */
export function reportSamples(server: Server) {
  let requests = 0
  server.on('request', () => {
    requests++
  })
  process.on('message', () => {
    const { user, system } = process.cpuUsage()
    process.send?.({ cpuMicros: user + system, requests })
  })
  process.on('SIGINT', () => process.exit(0))
}
