import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type CryptoKey,
  createRemoteJWKSet,
  exportJWK,
  generateKeyPair,
  type JWK,
  jwtVerify,
  SignJWT,
} from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { LimitRequest } from '../types.js'
import { createIdentifier } from './identifier.js'

const COOLDOWN_MS = 60_000

/** A JWKS endpoint on 127.0.0.1 that counts every fetch and can be switched to failing. */
let server: Server
let jwksUrl: string
let fetches = 0
let failing = false
let keys: JWK[] = []

let real: CryptoKey
let rotated: CryptoKey
let attacker: CryptoKey
let rotatedJwk: JWK

const bearer = (token: string): LimitRequest => ({
  method: 'POST',
  path: '/v1/chat/completions',
  headers: { authorization: `Bearer ${token}` },
  ip: '10.0.0.2',
})
const sign = (key: CryptoKey, kid: string) =>
  new SignJWT({ sub: 'alice', plan: 'pro' })
    .setProtectedHeader({ alg: 'RS256', kid })
    .setExpirationTime('2h')
    .sign(key)
const randomKids = (count: number) =>
  Promise.all(Array.from({ length: count }, (_, i) => sign(attacker, `random-${i}-${Math.random()}`)))

beforeAll(async () => {
  const pairs = await Promise.all([1, 2, 3].map(() => generateKeyPair('RS256', { extractable: true })))
  real = pairs[0].privateKey
  rotated = pairs[1].privateKey
  attacker = pairs[2].privateKey
  const realJwk = { ...(await exportJWK(pairs[0].publicKey)), kid: 'real', alg: 'RS256', use: 'sig' }
  rotatedJwk = { ...(await exportJWK(pairs[1].publicKey)), kid: 'rotated', alg: 'RS256', use: 'sig' }
  keys = [realJwk]
  server = createServer((_request, response) => {
    fetches++
    if (failing) return void response.writeHead(500).end('down')
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`
})

afterEach(() => {
  vi.useRealTimers()
  fetches = 0
  failing = false
})

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

describe('JWKS', () => {
  it('1,000 tokens with random kid: one fetch per cooldown in total, the initial load included', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const identify = createIdentifier({
      jwt: { jwksUrl, algorithms: ['RS256'], jwksCooldownMs: COOLDOWN_MS },
    })
    // The first 500 arrive at once, before any key is loaded: they share the one initial fetch.
    const tokens = await randomKids(1000)
    const first = await Promise.all(tokens.slice(0, 500).map((token) => identify(bearer(token))))
    for (const token of tokens.slice(500)) first.push(await identify(bearer(token)))
    for (const result of first)
      expect(result).toMatchObject({
        error: { status: 401, message: expect.stringMatching(/no key of the JWKS matches/) },
      })
    expect(fetches).toBe(1)
    expect(await identify(bearer(await sign(real, 'real')))).toMatchObject({
      identity: { user: 'alice', plan: 'pro' },
    })
    expect(fetches).toBe(1)

    // A key rotated in during the cooldown is only picked up once the cooldown has passed.
    keys = [...keys, rotatedJwk]
    const fresh = await sign(rotated, 'rotated')
    expect(await identify(bearer(fresh))).toHaveProperty('error.status', 401)
    expect(fetches).toBe(1)
    vi.setSystemTime(Date.now() + COOLDOWN_MS + 1)
    expect(await identify(bearer(fresh))).toHaveProperty('identity.user', 'alice')
    expect(fetches).toBe(2)
    for (const token of await randomKids(1000))
      expect(await identify(bearer(token))).toHaveProperty('error.status', 401)
    expect(fetches).toBe(2)
    keys = keys.slice(0, 1)
  })

  it('while the JWKS endpoint fails, 1,000 tokens cause one fetch per cooldown (plain jose: one per token)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    failing = true
    const identify = createIdentifier({
      jwt: { jwksUrl, algorithms: ['RS256'], jwksCooldownMs: COOLDOWN_MS },
    })
    const token = await sign(real, 'real')
    for (let i = 0; i < 1000; i++)
      expect(await identify(bearer(token))).toMatchObject({
        error: {
          // Unfetchable keys say nothing about the token: retry, do not re-authenticate.
          status: 503,
          message: expect.stringMatching(/the signing keys \(JWKS\) could not be fetched/),
        },
      })
    expect(fetches).toBe(1)
    failing = false
    vi.setSystemTime(Date.now() + COOLDOWN_MS + 1)
    expect(await identify(bearer(token))).toHaveProperty('identity.user', 'alice')
    expect(fetches).toBe(2)

    // Negative control: jose's own cooldown only spaces re-fetches after a success.
    fetches = 0
    failing = true
    const plain = createRemoteJWKSet(new URL(jwksUrl), { cooldownDuration: COOLDOWN_MS })
    for (let i = 0; i < 20; i++)
      await jwtVerify(token, plain, { algorithms: ['RS256'] }).catch(() => undefined)
    expect(fetches).toBe(20)
  })
})
