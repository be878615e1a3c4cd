import { createPublicKey, type KeyObject } from 'node:crypto'
import { createRemoteJWKSet, customFetch, type FetchImplementation, type JWTVerifyGetKey } from 'jose'
import { configError, shown } from '../errors.js'
import type { JwtOptions } from './identify-options.js'

const HMAC = new Set(['HS256', 'HS384', 'HS512'])
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'])
const EDWARDS = new Set(['EdDSA', 'Ed25519'])
const CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' }

/** The key material `jwtVerify` is given: a secret, a public key, or a JWKS lookup. */
export type JwtKey = Uint8Array | KeyObject | JWTVerifyGetKey

/**
 * Validates the `identify.jwt` options and builds the verification key once, at startup, so a
 * misconfiguration throws `ERR_CONFIG` instead of turning every request into a 401.
 */
export function resolveJwtKey(options: JwtOptions): JwtKey {
  const { algorithms } = options
  if (!Array.isArray(algorithms) || algorithms.length === 0)
    configError(
      "Expected `identify.jwt.algorithms` to list the accepted algorithms, e.g. ['RS256']; leaving it open allows algorithm confusion.",
    )
  if (algorithms.some((alg) => String(alg).toLowerCase() === 'none'))
    configError("`identify.jwt.algorithms` must not include 'none': unsigned tokens would be accepted.")
  for (const alg of algorithms)
    if (!HMAC.has(alg) && !ASYMMETRIC.has(alg) && !EDWARDS.has(alg) && !alg.startsWith('ML-DSA-'))
      configError(`\`identify.jwt.algorithms\` lists ${JSON.stringify(alg)}, which is not a JWS algorithm.`)
  const sources = [options.secret, options.publicKey, options.jwksUrl].filter(
    (source) => source !== undefined,
  )
  if (sources.length !== 1)
    configError(
      'Set exactly one of `identify.jwt.secret`, `identify.jwt.publicKey` or `identify.jwt.jwksUrl`.',
    )
  if (options.secret !== undefined) return secretKey(options.secret, algorithms)
  if (algorithms.some((alg) => HMAC.has(alg)))
    configError(
      'With a public key or JWKS, `identify.jwt.algorithms` must be asymmetric (RS*, PS*, ES*, EdDSA); HS* would let the public key act as a shared secret.',
    )
  if (options.publicKey !== undefined) return publicKey(options.publicKey, algorithms)
  return remoteKeySet(options.jwksUrl as string, options.jwksCooldownMs ?? 30_000)
}

function secretKey(secret: string | Uint8Array, algorithms: readonly string[]): Uint8Array {
  if (!algorithms.every((alg) => HMAC.has(alg)))
    configError('`identify.jwt.secret` verifies only HS256/HS384/HS512; list only those in `algorithms`.')
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret
  // RFC 7518 §3.2: a shorter key can be brute-forced offline from any token it signed.
  const needed = Math.max(...algorithms.map((alg) => Number(alg.slice(2)) / 8))
  if (!(bytes instanceof Uint8Array) || bytes.length < needed)
    configError(
      `Expected \`identify.jwt.secret\` to be at least ${needed} bytes for ${algorithms.join('/')} (RFC 7518 §3.2); generate one with \`openssl rand -base64 ${needed}\`.`,
    )
  return bytes
}

function accepts(key: KeyObject, alg: string): boolean {
  const type = key.asymmetricKeyType
  if (alg.startsWith('RS')) return type === 'rsa'
  if (alg.startsWith('PS')) return type === 'rsa' || type === 'rsa-pss'
  if (alg.startsWith('ES')) return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === CURVES[alg]
  if (EDWARDS.has(alg)) return type === 'ed25519'
  return type === alg.toLowerCase()
}

function publicKey(pem: string, algorithms: readonly string[]): KeyObject {
  let key: KeyObject
  try {
    key = createPublicKey(pem)
  } catch {
    return configError(
      'Expected `identify.jwt.publicKey` to be a PEM public key (-----BEGIN PUBLIC KEY-----, SPKI); export it with `openssl pkey -pubout`.',
    )
  }
  const wrong = algorithms.filter((alg) => !accepts(key, alg))
  if (wrong.length > 0)
    configError(
      `\`identify.jwt.publicKey\` is a ${key.asymmetricKeyType} key and cannot verify ${wrong.join(', ')}; list only the algorithms it signs with in \`identify.jwt.algorithms\`.`,
    )
  return key
}

/** A failed or refused JWKS fetch; not a JOSEError, so the verifier words it as an unreachable JWKS. */
class JwksUnavailableError extends Error {}

function remoteKeySet(jwksUrl: string, cooldownMs: number): JWTVerifyGetKey {
  let url: URL
  try {
    url = new URL(jwksUrl)
  } catch {
    return configError(`Expected \`identify.jwt.jwksUrl\` to be an absolute URL, got ${shown(jwksUrl)}.`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    configError(`Expected \`identify.jwt.jwksUrl\` to be an http(s) URL, got ${shown(jwksUrl)}.`)
  if (!Number.isFinite(cooldownMs) || cooldownMs < 0)
    configError(`Expected \`identify.jwt.jwksCooldownMs\` to be a non-negative number, got ${cooldownMs}.`)
  // jose spaces re-fetches for unknown `kid`s, but not for failed fetches: while the JWKS endpoint
  // is down, every token would be another request to it. One attempt per cooldown, whatever the outcome.
  let failedAt = Number.NEGATIVE_INFINITY
  const fetchWithCooldown: FetchImplementation = async (resource, init) => {
    if (Date.now() - failedAt < cooldownMs) throw new JwksUnavailableError('JWKS fetch is cooling down')
    try {
      const response = await fetch(resource, init)
      const text = await response.text()
      const keys = response.status === 200 ? (JSON.parse(text) as { keys?: unknown }).keys : undefined
      if (!Array.isArray(keys)) throw new JwksUnavailableError(`JWKS answered ${response.status}`)
      return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } })
    } catch (error) {
      failedAt = Date.now()
      throw error
    }
  }
  return createRemoteJWKSet(url, { cooldownDuration: cooldownMs, [customFetch]: fetchWithCooldown })
}
