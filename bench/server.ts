// A benchmark server in its own process: `tsx server.ts <kind> <port>` (the built packages, as users run them).
import type { ServerResponse } from 'node:http'
import { createLimiter, formatHeaders, memoryStore } from '@llm-limit/core'
import { llmLimit, shareHiddenClass } from '@llm-limit/express'
import { llmLimit as honoLimit } from '@llm-limit/hono'
import { llmLimit as koaLimit } from '@llm-limit/koa'
import { rateLimit } from 'express-rate-limit'
import type { MiddlewareHandler } from 'hono'
import { rateLimiter as honoRateLimiter } from 'hono-rate-limiter'
import koaRatelimit from 'koa-ratelimit'
import { expressApp, honoApp, koaApp, type Listen, reportSamples, rules } from './apps.js'

const [kind, portText] = process.argv.slice(2)
const huge = 1e9
const noHeaders = { openai: false, ietf: false, legacy: false } as const

/**
 * The headers llmLimit sends by default for these rules (all three sets), from a real decision. A
 * middleware that only sets them measures what the framework and Node charge for the headers alone.
 */
const defaultHeaders = formatHeaders(
  await createLimiter({ store: memoryStore(), rules }).check({
    method: 'GET',
    path: '/',
    headers: {},
    ip: '127.0.0.1',
  }),
)

const servers: Record<string, () => Listen> = {
  'express-bare': () => expressApp(),
  'express-rate-limit': () =>
    expressApp(rateLimit({ windowMs: 60_000, limit: huge, standardHeaders: 'draft-8', legacyHeaders: true })),
  'express-llm-limit': () => expressApp(llmLimit({ rules })),
  'koa-bare': () => koaApp(),
  'koa-ratelimit': () =>
    koaApp(
      koaRatelimit({ driver: 'memory', db: new Map(), duration: 60_000, max: huge, id: (ctx) => ctx.ip }),
    ),
  'koa-llm-limit': () => koaApp(koaLimit({ rules })),
  // The same header sets the peers send, so the client parses the same bytes.
  'express-llm-limit-peer-headers': () =>
    expressApp(llmLimit({ rules, headers: { openai: false, ietf: 'draft-8', legacy: true } })),
  'koa-llm-limit-peer-headers': () =>
    koaApp(koaLimit({ rules, headers: { openai: false, ietf: false, legacy: true } })),
  'hono-llm-limit-peer-headers': () =>
    honoApp(honoLimit({ rules, headers: { openai: false, ietf: 'draft-6', legacy: false } })),
  'hono-bare': () => honoApp(),
  'hono-rate-limiter': () =>
    honoApp(
      honoRateLimiter({
        windowMs: 60_000,
        limit: huge,
        standardHeaders: 'draft-6',
        keyGenerator: (c) => c.req.header('x-forwarded-for') ?? '127.0.0.1',
      }) as MiddlewareHandler,
    ),
  'hono-llm-limit': () => honoApp(honoLimit({ rules })),
  // The decision alone, no header set: what the limiter costs apart from what the headers cost.
  'express-llm-limit-no-headers': () => expressApp(llmLimit({ rules, headers: noHeaders })),
  'koa-llm-limit-no-headers': () => koaApp(koaLimit({ rules, headers: noHeaders })),
  'hono-llm-limit-no-headers': () => honoApp(honoLimit({ rules, headers: noHeaders })),
  // The floor any middleware starts from: one that only passes the request on.
  'express-noop': () => expressApp((_req, _res, next) => next()),
  // An empty middleware that takes only the Express adapter's first step, which speeds up Express
  // itself: the floor that shows llmLimit's own cost apart from that gain.
  'express-shared-noop': () =>
    expressApp((req, res, next) => {
      shareHiddenClass(req)
      shareHiddenClass(res)
      next()
    }),
  'koa-noop': () => koaApp((_ctx, next) => next()),
  'hono-noop': () => honoApp(async (_c, next) => next()),
  // The floor any limiter that sends llmLimit's default headers starts from: setting them and nothing else.
  'express-headers-only': () =>
    expressApp((_req, res, next) => {
      for (const name in defaultHeaders) res.setHeader(name, defaultHeaders[name])
      next()
    }),
  'koa-headers-only': () =>
    koaApp((ctx, next) => {
      for (const name in defaultHeaders) ctx.res.setHeader(name, defaultHeaders[name])
      return next()
    }),
  // The same way the Hono adapter sets them on @hono/node-server: on Node's response, before the handler.
  'hono-headers-only': () =>
    honoApp(async (c, next) => {
      const outgoing = (c.env as { outgoing: ServerResponse }).outgoing
      for (const name in defaultHeaders) outgoing.setHeader(name, defaultHeaders[name])
      return next()
    }),
}

const start = servers[kind]
if (!start)
  throw new Error(`Unknown server kind '${kind}'; expected one of ${Object.keys(servers).join(', ')}.`)
reportSamples(start()(Number(portText)))
