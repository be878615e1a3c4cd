import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { createLimiter, memoryStore, normalizeIp, type Rule, resetWarnings } from '@llm-limit/core'
import { llmLimit as expressLimit } from '@llm-limit/express'
import { llmLimit as honoLimit } from '@llm-limit/hono'
import { llmLimit as koaLimit } from '@llm-limit/koa'
import { redisStore } from '@llm-limit/redis'
import express from 'express'
import { Hono } from 'hono'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose'
import Koa from 'koa'
import request from 'supertest'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type RedisProcess, ready, redisClient, startRedis } from './support/redis-servers.js'

const ip = (value: string) => ({ method: 'GET', path: '/', headers: {}, ip: value })

describe('IP identity cannot be spoofed', () => {
  it('Express, trust proxy off: 1,000 different X-Forwarded-For values share one bucket', async () => {
    const app = express()
    app.use(
      expressLimit({
        rules: [{ name: 'ip', by: 'ip', requests: 1000, per: '1d', algorithm: 'sliding-window' }],
        validations: false,
      }),
    )
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    const server = app.listen(0, '127.0.0.1')
    const agent = request(server)
    for (let i = 0; i < 1000; i++)
      await agent
        .get('/')
        .set('x-forwarded-for', `203.0.${i >> 8}.${i & 255}`)
        .expect(200)
    await agent.get('/').set('x-forwarded-for', '198.51.100.77').expect(429)
    server.close()
  }, 60_000)

  it('Koa (app.proxy off) and Hono (no trusted proxies) ignore X-Forwarded-For too', async () => {
    const koa = new Koa()
    koa.use(koaLimit({ rules: [{ name: 'ip', requests: 3, per: '1m' }], validations: false }))
    koa.use((ctx) => {
      ctx.body = 'ok'
    })
    const koaServer = koa.listen(0, '127.0.0.1')
    const hono = new Hono()
    hono.use(honoLimit({ rules: [{ name: 'ip', requests: 3, per: '1m' }], validations: false }))
    hono.get('/', (c) => c.text('ok'))
    const honoServer = serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((resolve) => honoServer.once('listening', resolve))
    const honoPort = (honoServer.address() as AddressInfo).port
    for (let i = 0; i < 3; i++) {
      await request(koaServer).get('/').set('x-forwarded-for', `192.0.2.${i}`).expect(200)
      expect(
        (await fetch(`http://127.0.0.1:${honoPort}/`, { headers: { 'x-forwarded-for': `192.0.2.${i}` } }))
          .status,
      ).toBe(200)
    }
    await request(koaServer).get('/').set('x-forwarded-for', '192.0.2.200').expect(429)
    expect(
      (await fetch(`http://127.0.0.1:${honoPort}/`, { headers: { 'x-forwarded-for': '192.0.2.200' } }))
        .status,
    ).toBe(429)
    koaServer.close()
    honoServer.close()
  })

  it('Hono believes X-Forwarded-For only from a trusted proxy', async () => {
    const hono = new Hono()
    hono.use(honoLimit({ rules: [{ name: 'ip', requests: 1, per: '1m' }], trustedProxies: ['127.0.0.0/8'] }))
    hono.get('/', (c) => c.text(c.get('llmLimit').identity.ip ?? ''))
    const server = serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((resolve) => server.once('listening', resolve))
    const port = (server.address() as AddressInfo).port
    const first = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-forwarded-for': '198.51.100.1' } })
    expect(await first.text()).toBe('198.51.100.1')
    expect(
      (await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-forwarded-for': '198.51.100.2' } })).status,
    ).toBe(200)
    server.close()
  })

  it('Express and Koa behind a trusted proxy that appends ports (a.b.c.d:port): one client, one bucket', async () => {
    const rules: Rule[] = [{ name: 'ip', by: 'ip', requests: 2, per: '1m' }]
    const app = express()
    app.set('trust proxy', 1)
    app.use(expressLimit({ rules }))
    app.get('/', (req, res) => {
      res.send(req.llmLimit?.identity.ip)
    })
    const koa = new Koa()
    koa.proxy = true
    koa.use(koaLimit({ rules }))
    koa.use((ctx) => {
      ctx.body = ctx.state.llmLimit?.identity.ip
    })
    for (const server of [app.listen(0, '127.0.0.1'), koa.listen(0, '127.0.0.1')]) {
      const agent = request(server)
      const first = await agent.get('/').set('x-forwarded-for', '203.0.113.9:50432').expect(200)
      expect(first.text).toBe('203.0.113.9')
      await agent.get('/').set('x-forwarded-for', '203.0.113.9:50433').expect(200)
      await agent.get('/').set('x-forwarded-for', '203.0.113.9').expect(429)
      // Another client is not the garbage bucket every unparseable address shares.
      await agent.get('/').set('x-forwarded-for', '198.51.100.4:1234').expect(200)
      server.close()
    }
  })

  it('IPv6 addresses rotating inside one /56 share a bucket; another /56 does not', async () => {
    const limiter = createLimiter({
      store: memoryStore(),
      rules: [{ name: 'ip', requests: 100, per: '1m', algorithm: 'fixed-window' }],
    })
    for (let i = 0; i < 100; i++) {
      const address = `2001:db8:abcd:12${(i % 256).toString(16).padStart(2, '0')}:${i.toString(16)}::${(i * 7).toString(16)}`
      expect((await limiter.check(ip(address))).allowed).toBe(true)
    }
    expect((await limiter.check(ip('2001:db8:abcd:12ff:ffff:ffff:ffff:ffff'))).allowed).toBe(false)
    expect((await limiter.check(ip('2001:db8:abcd:1300::1'))).allowed).toBe(true)
    expect(normalizeIp('2001:db8:abcd:1234::1')).toBe('2001:db8:abcd:1200::/56')
  })

  it('::ffff:1.2.3.4 and 1.2.3.4 share a bucket', async () => {
    const limiter = createLimiter({ store: memoryStore(), rules: [{ name: 'ip', requests: 1, per: '1m' }] })
    expect((await limiter.check(ip('1.2.3.4'))).allowed).toBe(true)
    expect((await limiter.check(ip('::ffff:1.2.3.4'))).allowed).toBe(false)
    expect((await limiter.check(ip('::ffff:0102:0304'))).allowed).toBe(false)
  })
})

describe('JWT', () => {
  it('alg none, a bad signature, HS256 signed with the public key, and an expired token are 401 and charge nothing', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true })
    const other = await generateKeyPair('RS256')
    const pem = await exportSPKI(publicKey)
    const limiter = createLimiter({
      store: memoryStore(),
      identify: { jwt: { publicKey: pem, algorithms: ['RS256'] } },
      rules: [{ name: 'per-user', by: 'user', requests: 2, per: '1m', algorithm: 'fixed-window' }],
    })
    const as = (token: string) =>
      limiter.check({
        method: 'GET',
        path: '/',
        headers: { authorization: `Bearer ${token}` },
        ip: '10.0.0.1',
      })
    const claims = { sub: 'alice', plan: 'pro' }
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
    const forged = [
      `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`,
      await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256' })
        .setExpirationTime('1h')
        .sign(other.privateKey),
      await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(pem)),
      await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
        .sign(privateKey),
    ]
    for (const token of forged) {
      for (let i = 0; i < 3; i++) {
        const decision = await as(token)
        expect(decision.status).toBe(401)
        expect(decision.message).toMatch(/bearer token was rejected/)
      }
    }
    // Alice's own bucket is untouched: both of her requests are still there.
    const valid = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256' })
      .setExpirationTime('1h')
      .sign(privateKey)
    const first = await as(valid)
    expect(first.allowed).toBe(true)
    expect(first.identity).toMatchObject({ user: 'alice', plan: 'pro' })
    expect((await as(valid)).allowed).toBe(true)
    expect((await as(valid)).allowed).toBe(false)
  })

  it('1,000 tokens with random kid cause at most one JWKS fetch per cooldown', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true })
    const jwk = { ...(await exportJWK(publicKey)), kid: 'real', alg: 'RS256', use: 'sig' }
    let fetches = 0
    const server = createServer((_req, res) => {
      fetches++
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: [jwk] }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`
    const limiter = createLimiter({
      identify: { jwt: { jwksUrl, algorithms: ['RS256'], jwksCooldownMs: 60_000 } },
      rules: [{ requests: 1e6, per: '1m' }],
    })
    const attacker = await generateKeyPair('RS256')
    const tokens = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        new SignJWT({ sub: `u${i}` })
          .setProtectedHeader({ alg: 'RS256', kid: `random-${i}-${Math.random()}` })
          .setExpirationTime('1h')
          .sign(attacker.privateKey),
      ),
    )
    for (const token of tokens) {
      const decision = await limiter.check({
        method: 'GET',
        path: '/',
        headers: { authorization: `Bearer ${token}` },
        ip: '10.0.0.2',
      })
      expect(decision.status).toBe(401)
    }
    expect(fetches).toBeLessThanOrEqual(1)
    server.close()
  }, 60_000)

  it('rejects unsafe JWT configuration at startup', () => {
    expect(() => createLimiter({ identify: { jwt: { secret: 's', algorithms: [] } } })).toThrow(/algorithms/)
    expect(() => createLimiter({ identify: { jwt: { secret: 's', algorithms: ['none'] } } })).toThrow(
      /'none'/,
    )
    expect(() =>
      createLimiter({
        identify: { jwt: { publicKey: '-----BEGIN PUBLIC KEY-----', algorithms: ['HS256'] } },
      }),
    ).toThrow(/asymmetric/)
  })
})

describe('API keys never appear raw', () => {
  let redis: RedisProcess
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('no raw key in any store key, log line or event after a run', async () => {
    const client = redisClient(redis.port)
    await ready(client)
    const keys = Array.from({ length: 20 }, (_, i) => `sk-live-${i}-${Math.random().toString(36).slice(2)}`)
    const logged: string[] = []
    const warn = vi.spyOn(console, 'warn').mockImplementation((...args) => void logged.push(args.join(' ')))
    const log = vi.spyOn(console, 'log').mockImplementation((...args) => void logged.push(args.join(' ')))
    resetWarnings()
    const app = express()
    app.use(
      expressLimit({
        store: redisStore({ client, prefix: 'keys:' }),
        rules: [{ name: 'per-key', by: 'apiKey', requests: 3, per: '1m' }],
        events: {
          onDecision: (decision) => void logged.push(JSON.stringify(decision)),
          onDeny: (decision) => void logged.push(JSON.stringify(decision)),
        },
      }),
    )
    app.get('/', (req, res) => {
      res.json(req.llmLimit)
    })
    const server = app.listen(0, '127.0.0.1')
    for (const key of keys) {
      for (let i = 0; i < 4; i++) {
        const response = await request(server)
          .get('/')
          .set(i % 2 ? 'x-api-key' : 'authorization', i % 2 ? key : `Bearer ${key}`)
          .set('x-forwarded-for', '1.1.1.1')
        logged.push(JSON.stringify(response.headers), response.text)
      }
    }
    server.close()
    warn.mockRestore()
    log.mockRestore()
    const storeKeys = await client.keys('*')
    expect(storeKeys.length).toBeGreaterThan(0)
    const everything = [...storeKeys, ...logged].join('\n')
    for (const key of keys) expect(everything).not.toContain(key)
    // The warning about X-Forwarded-For without trust proxy was logged once, with its code.
    expect(logged.filter((line) => line.includes('WARN_TRUST_PROXY'))).toHaveLength(1)
    client.disconnect()
  })
})

describe('warn-once validations', () => {
  it('warns once per code, says how to silence it, and can be silenced', async () => {
    resetWarnings()
    const lines: string[] = []
    const warn = vi.spyOn(console, 'warn').mockImplementation((line) => void lines.push(String(line)))
    const first = expressLimit({ rules: [{ name: 'shared', requests: 100, per: '1m' }] })
    const second = expressLimit({ rules: [{ name: 'shared', requests: 100, per: '1m' }] })
    const app = express()
    app.use(first, second)
    app.get('/', (_req, res) => {
      // A limiter built inside a handler starts empty every time.
      expressLimit({ rules: [{ requests: 1 }] })
      res.send('ok')
    })
    for (let i = 0; i < 3; i++) await request(app).get('/').set('x-forwarded-for', '9.9.9.9').expect(200)
    warn.mockRestore()
    for (const code of ['WARN_TRUST_PROXY', 'WARN_DOUBLE_COUNT', 'WARN_CREATED_IN_HANDLER']) {
      const matching = lines.filter((line) => line.includes(code))
      expect(matching, code).toHaveLength(1)
      expect(matching[0]).toContain(`validations: { ${code}: false }`)
    }
    resetWarnings()
    const quiet: string[] = []
    const spy = vi.spyOn(console, 'warn').mockImplementation((line) => void quiet.push(String(line)))
    const silenced = express()
    silenced.use(expressLimit({ validations: false }))
    silenced.get('/', (_req, res) => {
      res.send('ok')
    })
    await request(silenced).get('/').set('x-forwarded-for', '9.9.9.9')
    spy.mockRestore()
    expect(quiet).toHaveLength(0)
  })
})
