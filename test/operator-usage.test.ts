import type { Rule } from '@llm-limit/core'
import { llmLimit as expressLimit, llmUsage as expressUsage } from '@llm-limit/express'
import { llmLimit as honoLimit, llmUsage as honoUsage } from '@llm-limit/hono'
import { llmLimit as koaLimit, llmUsage as koaUsage } from '@llm-limit/koa'
import express from 'express'
import { Hono } from 'hono'
import Koa from 'koa'
import request from 'supertest'
import { describe, expect, it } from 'vitest'

const rules: Rule[] = [
  { name: 'key-day', by: 'apiKey', requests: 10, per: 'day' },
  { name: 'key-spend', by: 'apiKey', costUsd: 5, per: 'month' },
]
const auth = { authorization: 'Bearer sk-test-usage-1' }

type Get = (path: string) => Promise<{ status: number; body: unknown }>

const apps: [string, () => Get][] = [
  [
    'express',
    () => {
      const app = express()
      const limit = expressLimit({ rules })
      app.get('/v1/usage', expressUsage(limit))
      app.use(limit)
      app.get('/v1/models', (_req, res) => {
        res.json({ data: [] })
      })
      return async (path) => {
        const res = await request(app).get(path).set(auth)
        return { status: res.status, body: res.body }
      }
    },
  ],
  [
    'koa',
    () => {
      const app = new Koa()
      const limit = koaLimit({ rules })
      const usage = koaUsage(limit)
      app.use(async (ctx, next) => (ctx.path === '/v1/usage' ? usage(ctx, next) : next()))
      app.use(limit)
      app.use((ctx) => {
        ctx.body = { data: [] }
      })
      const server = app.callback()
      return async (path) => {
        const res = await request(server).get(path).set(auth)
        return { status: res.status, body: res.body }
      }
    },
  ],
  [
    'hono',
    () => {
      const app = new Hono()
      const limit = honoLimit({ rules, getIp: () => '192.0.2.1' })
      app.get('/v1/usage', honoUsage(limit, { getIp: () => '192.0.2.1' }))
      app.use(limit)
      app.get('/v1/models', (c) => c.json({ data: [] }))
      return async (path) => {
        const res = await app.request(path, { headers: auth })
        return { status: res.status, body: await res.json() }
      }
    },
  ],
]

describe.each(apps)('llmUsage on %s', (_, make) => {
  it('answers the caller its own limits and what is left, spending nothing', async () => {
    const get = make()
    for (let i = 0; i < 3; i++) expect((await get('/v1/models')).status).toBe(200)
    const first = await get('/v1/usage')
    const second = await get('/v1/usage')
    expect(first.status).toBe(200)
    expect(first.body).toMatchObject({
      object: 'usage',
      limits: [
        { name: 'key-day', measure: 'requests', limit: 10, used: 3, remaining: 7 },
        { name: 'key-spend', measure: 'costUsd', limit: 5, used: 0, remaining: 5 },
      ],
    })
    const { limits: a } = first.body as { limits: { used: number; remaining: number }[] }
    const { limits: b } = second.body as { limits: { used: number; remaining: number }[] }
    expect(b.map((rule) => [rule.used, rule.remaining])).toEqual(a.map((rule) => [rule.used, rule.remaining]))
    expect((await get('/v1/models')).status).toBe(200)
    const third = (await get('/v1/usage')).body as { limits: { used: number }[] }
    expect(third.limits[0].used).toBe(4)
  })
})
