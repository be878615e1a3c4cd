import { createPrivateKey, type KeyObject } from 'node:crypto'
import { type CryptoKey, exportPKCS8, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import type { LimitRequest } from '../types.js'
import { hashApiKey } from './hash-api-key.js'
import { createIdentifier } from './identifier.js'
import type { IdentityResult, JwtOptions } from './identify-options.js'

const SECRET = 'a-32-byte-secret-for-hs256-tests!'
const now = () => Math.floor(Date.now() / 1000)
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
const bearer = (token: string, extra: Partial<LimitRequest> = {}): LimitRequest => ({
  method: 'POST',
  path: '/v1/responses',
  headers: { authorization: `Bearer ${token}` },
  ip: '10.0.0.1',
  ...extra,
})

let rsa: { publicKey: CryptoKey; privateKey: CryptoKey }
let pem: string
let stranger: CryptoKey

function sign(
  key: CryptoKey | KeyObject | Uint8Array,
  alg: string,
  claims: JWTPayload = { sub: 'alice', plan: 'pro' },
) {
  return new SignJWT(claims).setProtectedHeader({ alg }).setIssuedAt().setExpirationTime('1h').sign(key)
}

async function rejection(options: JwtOptions, token: string): Promise<string> {
  const result = await createIdentifier({ jwt: options })(bearer(token))
  expect(result).toMatchObject({ error: { status: 401, code: 'invalid_token' } })
  expect(result).not.toHaveProperty('identity')
  const { message } = (result as Extract<IdentityResult, { error: unknown }>).error
  expect(message).toMatch(/^The bearer token was rejected: /)
  expect(message).not.toContain(token.split('.')[1])
  return message
}

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true })
  pem = await exportSPKI(rsa.publicKey)
  stranger = (await generateKeyPair('RS256')).privateKey
})

describe('JWT verification', () => {
  it('a valid token gives user and plan from its claims, and the claims themselves', async () => {
    const identify = createIdentifier({ jwt: { publicKey: pem, algorithms: ['RS256', 'PS256'] } })
    const result = await identify(bearer(await sign(rsa.privateKey, 'RS256')))
    expect(result).toMatchObject({
      identity: { ip: '10.0.0.1', user: 'alice', plan: 'pro', claims: { sub: 'alice' } },
    })
    // One RSA key verifies every RSA algorithm listed.
    const anyRsa = createPrivateKey(await exportPKCS8(rsa.privateKey))
    expect(await identify(bearer(await sign(anyRsa, 'PS256')))).toHaveProperty('identity.user', 'alice')
  })

  it('verifies a 6 KB token, as identity providers issue for users with many groups', async () => {
    const identify = createIdentifier({ jwt: { secret: SECRET, algorithms: ['HS256'] } })
    const groups = Array.from(
      { length: 150 },
      (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    )
    const token = await sign(new TextEncoder().encode(SECRET), 'HS256', { sub: 'alice', groups })
    expect(token.length).toBeGreaterThan(6000)
    expect(await identify(bearer(token))).toHaveProperty('identity.user', 'alice')
    // Past what Node accepts for all headers together, it is not read at all.
    const huge = await sign(new TextEncoder().encode(SECRET), 'HS256', {
      sub: 'alice',
      pad: 'x'.repeat(20_000),
    })
    expect(await identify(bearer(huge))).not.toHaveProperty('identity.user')
  })

  it('honours issuer, audience, custom claims, a custom header and an application user', async () => {
    const options: JwtOptions = {
      secret: SECRET,
      algorithms: ['HS256'],
      issuer: 'https://auth.example',
      audience: 'llm-api',
      userClaim: 'uid',
      planClaim: 'tier',
      header: 'x-id-token',
    }
    const claims = { uid: 42, tier: 'team', iss: 'https://auth.example', aud: 'llm-api' }
    const token = await sign(new TextEncoder().encode(SECRET), 'HS256', claims)
    const identify = createIdentifier({ jwt: options })
    const request: LimitRequest = { method: 'GET', path: '/', headers: { 'x-id-token': token } }
    expect(await identify(request)).toMatchObject({ identity: { user: '42', plan: 'team' } })
    expect(await identify({ ...request, user: 'session-user' })).toMatchObject({
      identity: { user: 'session-user', plan: 'team' },
    })
    const wrongIssuer = await sign(new TextEncoder().encode(SECRET), 'HS256', {
      ...claims,
      iss: 'https://evil.example',
    })
    expect(await identify({ ...request, headers: { 'x-id-token': wrongIssuer } })).toMatchObject({
      error: { message: expect.stringMatching(/the "iss" claim is not accepted/) },
    })
    const wrongAudience = await sign(new TextEncoder().encode(SECRET), 'HS256', { ...claims, aud: 'other' })
    expect(await identify({ ...request, headers: { 'x-id-token': wrongAudience } })).toMatchObject({
      error: { message: expect.stringMatching(/the "aud" claim is not accepted/) },
    })
  })

  it('alg none, a bad signature, HS256 signed with the public key, and an expired token are 401 with the reason', async () => {
    const options: JwtOptions = { publicKey: pem, algorithms: ['RS256'] }
    const claims = { sub: 'victim', plan: 'enterprise' }
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, exp: now() + 3600 })}.`
    expect(await rejection(options, unsigned)).toMatch(/unsigned \(alg "none"\)/)
    expect(await rejection(options, await sign(stranger, 'RS256', claims))).toMatch(
      /the signature does not match/,
    )
    const confused = await sign(new TextEncoder().encode(pem), 'HS256', claims)
    expect(await rejection(options, confused)).toMatch(
      /its algorithm is not one of the accepted ones \(RS256\)/,
    )
    const expired = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuedAt(now() - 7200)
      .setExpirationTime(now() - 3600)
      .sign(rsa.privateKey)
    expect(await rejection(options, expired)).toMatch(/the token has expired/)
    const early = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256' })
      .setNotBefore(now() + 3600)
      .sign(rsa.privateKey)
    expect(await rejection(options, early)).toMatch(/not valid yet/)
    expect(await rejection(options, 'bm90IGpzb24.e30.c2ln')).toMatch(/not a well-formed JWT/)
  })

  it('a tampered payload fails even with a key that signed the original', async () => {
    const [header, , signature] = (await sign(rsa.privateKey, 'RS256')).split('.')
    const tampered = `${header}.${b64({ sub: 'admin', plan: 'enterprise', exp: now() + 3600 })}.${signature}`
    expect(await rejection({ publicKey: pem, algorithms: ['RS256'] }, tampered)).toMatch(
      /signature does not match/,
    )
  })

  it('a bearer that is not JWT-shaped stays an API key; a JWT-shaped one never does', async () => {
    const identify = createIdentifier({ jwt: { secret: SECRET, algorithms: ['HS256'] } })
    expect(await identify(bearer('sk-live-123'))).toEqual({
      identity: { ip: '10.0.0.1', apiKey: hashApiKey('sk-live-123') },
    })
    expect(await identify(bearer('a.b.c'))).toHaveProperty('error.status', 401)
  })
})

describe('JWT options are validated at construction', () => {
  const cases: [string, () => JwtOptions, RegExp][] = [
    ['no algorithms', () => ({ secret: SECRET, algorithms: [] }), /`identify.jwt.algorithms` to list/],
    ['alg none', () => ({ secret: SECRET, algorithms: ['HS256', 'none'] }), /must not include 'none'/],
    ['unknown alg', () => ({ secret: SECRET, algorithms: ['HS1'] }), /"HS1", which is not a JWS algorithm/],
    ['no key', () => ({ algorithms: ['RS256'] }), /exactly one of/],
    [
      'secret and jwksUrl',
      () => ({ secret: SECRET, jwksUrl: 'https://a/jwks', algorithms: ['HS256'] }),
      /exactly one of/,
    ],
    ['HS* with a public key', () => ({ publicKey: pem, algorithms: ['HS256'] }), /must be asymmetric/],
    [
      'HS* with a JWKS',
      () => ({ jwksUrl: 'https://a/jwks', algorithms: ['RS256', 'HS256'] }),
      /must be asymmetric/,
    ],
    ['RS* with a secret', () => ({ secret: SECRET, algorithms: ['RS256'] }), /verifies only HS256/],
    ['short secret', () => ({ secret: 'short', algorithms: ['HS256'] }), /at least 32 bytes/],
    ['HS512 secret', () => ({ secret: SECRET, algorithms: ['HS512'] }), /at least 64 bytes/],
    ['bad PEM', () => ({ publicKey: '-----BEGIN PUBLIC KEY-----', algorithms: ['RS256'] }), /PEM public key/],
    [
      'key type mismatch',
      () => ({ publicKey: pem, algorithms: ['ES256'] }),
      /rsa key and cannot verify ES256/,
    ],
    ['relative jwksUrl', () => ({ jwksUrl: '/jwks.json', algorithms: ['RS256'] }), /absolute URL/],
    ['file jwksUrl', () => ({ jwksUrl: 'file:///etc/jwks', algorithms: ['RS256'] }), /http\(s\) URL/],
    [
      'negative cooldown',
      () => ({ jwksUrl: 'https://a/jwks', algorithms: ['RS256'], jwksCooldownMs: -1 }),
      /jwksCooldownMs/,
    ],
  ]
  for (const [name, options, message] of cases)
    it(name, () => {
      expect(() => createIdentifier({ jwt: options() })).toThrow(message)
    })
})
