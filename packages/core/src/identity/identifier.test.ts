import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import { isLlmLimitError } from '../errors.js'
import type { LimitRequest } from '../types.js'
import { hashApiKey } from './hash-api-key.js'
import { createIdentifier } from './identifier.js'
import type { IdentityResult } from './identify-options.js'

const request = (headers: LimitRequest['headers'] = {}, extra: Partial<LimitRequest> = {}): LimitRequest => ({
  method: 'POST',
  path: '/v1/chat/completions',
  headers,
  ip: '203.0.113.9',
  ...extra,
})

/** The identity of a synchronous result; fails the test for a promise or a 401. */
function identityOf(result: IdentityResult | Promise<IdentityResult>) {
  expect(result).not.toBeInstanceOf(Promise)
  const settled = result as IdentityResult
  if ('error' in settled) throw new Error(`unexpected 401: ${settled.error.message}`)
  return settled.identity
}

describe('createIdentifier: IP and user', () => {
  it('answers synchronously with the normalised IP and never reads X-Forwarded-For', () => {
    const identify = createIdentifier({})
    const spoofed = request(
      { 'x-forwarded-for': '1.1.1.1', 'x-real-ip': '2.2.2.2' },
      { ip: '::ffff:203.0.113.9' },
    )
    expect(identityOf(identify(spoofed))).toEqual({ ip: '203.0.113.9' })
    expect(identityOf(identify(request({}, { ip: '2001:db8:abcd:12ff::1' }))).ip).toBe(
      '2001:db8:abcd:1200::/56',
    )
    expect(
      identityOf(createIdentifier({ ip: { ipv6Subnet: 64 } })(request({}, { ip: '2001:db8::1' }))).ip,
    ).toBe('2001:db8::/64')
    expect(identityOf(createIdentifier({ ip: false })(request())).ip).toBeUndefined()
  })

  it('takes the user from request.user, else from the user option', () => {
    const user = vi.fn(() => 'from-option')
    const identify = createIdentifier({ user })
    expect(identityOf(identify(request({}, { user: 'alice' }))).user).toBe('alice')
    expect(identityOf(identify(request())).user).toBe('from-option')
  })

  it('never takes a plan (or user) from a client-controlled header', () => {
    const identity = identityOf(
      createIdentifier({})(request({ 'x-plan': 'enterprise', 'x-user': 'root', plan: 'pro' })),
    )
    expect(identity.plan).toBeUndefined()
    expect(identity.user).toBeUndefined()
  })

  it('rejects a bad ipv6Subnet and rejectUnknown without a resolver at construction', () => {
    for (const ipv6Subnet of [0, 129, 56.5])
      expect(() => createIdentifier({ ip: { ipv6Subnet } })).toThrow(/`identify.ip.ipv6Subnet`/)
    expect(() => createIdentifier({ apiKey: { rejectUnknown: true } })).toThrow(/`identify.apiKey.resolve`/)
  })
})

describe('createIdentifier: API keys', () => {
  const key = 'sk-live-4f9a0c2b7e'

  it('reads Authorization: Bearer, then x-api-key, and keeps only the hash', () => {
    const identify = createIdentifier({})
    for (const headers of [
      { authorization: `Bearer ${key}` },
      { authorization: `bearer   ${key}` },
      { 'x-api-key': key },
    ]) {
      const identity = identityOf(identify(request(headers)))
      expect(identity.apiKey).toBe(hashApiKey(key))
      expect(JSON.stringify(identity)).not.toContain(key)
    }
    // Basic credentials are not an API key.
    expect(identityOf(identify(request({ authorization: 'Basic dXNlcjpwYXNz' }))).apiKey).toBeUndefined()
    expect(
      identityOf(createIdentifier({ apiKey: false })(request({ 'x-api-key': key }))).apiKey,
    ).toBeUndefined()
  })

  it('reads only the configured header when one is named', () => {
    const identify = createIdentifier({ apiKey: { header: 'X-Custom-Key' } })
    expect(identityOf(identify(request({ 'x-custom-key': key }))).apiKey).toBe(hashApiKey(key))
    expect(identityOf(identify(request({ authorization: `Bearer ${key}` }))).apiKey).toBeUndefined()
  })

  it('gives the resolver the hash, takes user and plan from it, and 401s unknown keys when asked', async () => {
    const resolve = vi.fn((hash: string) =>
      hash === hashApiKey(key) ? { user: 'acme', plan: 'pro' } : undefined,
    )
    const identify = createIdentifier({ apiKey: { resolve, rejectUnknown: true } })
    expect(identityOf(identify(request({ 'x-api-key': key })))).toMatchObject({ user: 'acme', plan: 'pro' })
    expect(resolve).toHaveBeenCalledWith(hashApiKey(key))
    expect(JSON.stringify(resolve.mock.calls)).not.toContain(key)
    const unknown = identify(request({ 'x-api-key': 'sk-live-stolen' })) as IdentityResult
    expect(unknown).toEqual({
      error: { status: 401, code: 'invalid_api_key', message: expect.stringMatching(/not recognised/) },
    })
    expect(JSON.stringify(unknown)).not.toContain('sk-live-stolen')
    expect(identify(request())).toMatchObject({
      error: { status: 401, message: expect.stringMatching(/required/) },
    })
    // An application-authenticated user needs no key.
    expect(identityOf(identify(request({}, { user: 'session-user' }))).user).toBe('session-user')

    const lenient = createIdentifier({ apiKey: { resolve: async () => undefined } })
    const pending = lenient(request({ 'x-api-key': key }))
    expect(pending).toBeInstanceOf(Promise)
    expect(await pending).toEqual({ identity: { ip: '203.0.113.9', apiKey: hashApiKey(key) } })
  })

  it('treats hostile header values as malformed: never thrown, never an identity', () => {
    const resolve = () => ({ user: 'someone' })
    const strict = createIdentifier({ apiKey: { resolve, rejectUnknown: true } })
    const lenient = createIdentifier({})
    const hostile: LimitRequest['headers'][] = [
      { 'x-api-key': `sk-${'a'.repeat(5000)}` },
      { 'x-api-key': 'sk-abc\r\nx-plan: enterprise' },
      { 'x-api-key': 'sk-ключ' },
      { 'x-api-key': 'sk-a sk-b' },
      { 'x-api-key': ['sk-a', 'sk-b'] },
      { authorization: `Bearer sk-${'b'.repeat(5000)}` },
      { authorization: 'Bearer sk-\u0000' },
    ]
    for (const headers of hostile) {
      expect(strict(request(headers)), JSON.stringify(headers).slice(0, 60)).toMatchObject({
        error: { status: 401, code: 'invalid_api_key', message: expect.stringMatching(/malformed/) },
      })
      expect(identityOf(lenient(request(headers))).apiKey).toBeUndefined()
    }
  })

  it('never throws and never echoes a key, whatever the headers hold (property)', () => {
    const identify = createIdentifier({ apiKey: { resolve: () => undefined, rejectUnknown: true } })
    const value = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 6000 }))
    const header = fc.oneof(value, fc.array(value, { maxLength: 3 }))
    fc.assert(
      fc.property(header, header, (authorization, apiKey) => {
        const result = identify(
          request({
            authorization: typeof authorization === 'string' ? `Bearer sk-${authorization}` : authorization,
            'x-api-key': apiKey,
          }),
        )
        expect(JSON.stringify(result)).not.toContain('sk-')
      }),
      { numRuns: 1000 },
    )
  })

  it('reports construction errors as ERR_CONFIG', () => {
    let error: unknown
    try {
      createIdentifier({ ip: { ipv6Subnet: 200 } })
    } catch (caught) {
      error = caught
    }
    expect(isLlmLimitError(error) && error.code).toBe('ERR_CONFIG')
  })
})
