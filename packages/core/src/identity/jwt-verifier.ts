import { decodeProtectedHeader, errors, jwtVerify } from 'jose'
import type { Identity } from '../types.js'
import type { IdentityResult, JwtOptions } from './identify-options.js'
import { resolveJwtKey } from './jwt-key.js'

/** Verifies one token and fills `identity` from its claims, or answers 401 with the reason. */
export type JwtVerifier = (token: string, identity: Identity) => Promise<IdentityResult>

/**
 * Builds the verifier for `identify.jwt` (validated at construction): `jwtVerify` with pinned
 * algorithms and, when configured, issuer and audience. A token is never decoded without being verified.
 */
export function createJwtVerifier(options: JwtOptions): JwtVerifier {
  const key = resolveJwtKey(options)
  const verifyOptions = {
    algorithms: [...options.algorithms],
    issuer: options.issuer,
    audience: options.audience,
  }
  const userClaim = options.userClaim ?? 'sub'
  const planClaim = options.planClaim ?? 'plan'
  const remote = typeof key === 'function'
  return async (token, identity) => {
    try {
      // Overloads of jwtVerify differ only in the key's type; the key was checked when it was resolved.
      const { payload } =
        typeof key === 'function'
          ? await jwtVerify(token, key, verifyOptions)
          : await jwtVerify(token, key, verifyOptions)
      const user = payload[userClaim]
      const plan = payload[planClaim]
      if (identity.user === undefined && (typeof user === 'string' || typeof user === 'number'))
        identity.user = String(user)
      if (typeof plan === 'string') identity.plan = plan
      identity.claims = payload
      return { identity }
    } catch (error) {
      // Keys that could not be fetched say nothing about the token: a 503 to retry, not a 401 to re-authenticate.
      if (remote && keysUnavailable(error)) {
        return {
          error: {
            status: 503,
            code: 'jwks_unavailable',
            message:
              'The bearer token could not be checked right now: the signing keys (JWKS) could not be fetched. Retry shortly.',
          },
        }
      }
      return {
        error: {
          status: 401,
          code: 'invalid_token',
          message: `The bearer token was rejected: ${reason(error, token, options.algorithms)}. Send a valid, unexpired token signed with an accepted algorithm.`,
        },
      }
    }
  }
}

/** A JWKS fetch that failed: a plain error (TypeError: fetch failed, our cooldown) or jose's timeout. */
function keysUnavailable(error: unknown): boolean {
  return !(error instanceof errors.JOSEError) || error instanceof errors.JWKSTimeout
}

/** Why verification failed, in words a client developer can act on; never echoes token content. */
function reason(error: unknown, token: string, algorithms: readonly string[]): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired'
  if (error instanceof errors.JOSEAlgNotAllowed)
    return unsigned(token)
      ? 'it is unsigned (alg "none")'
      : `its algorithm is not one of the accepted ones (${algorithms.join(', ')})`
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not match'
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'the token is not valid yet ("nbf")'
    return error.reason === 'missing'
      ? `the "${error.claim}" claim is missing`
      : `the "${error.claim}" claim is not accepted`
  }
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key of the JWKS matches its "kid"'
  if (error instanceof errors.JWKSMultipleMatchingKeys)
    return 'several keys of the JWKS match; name one with "kid"'
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid)
    return 'it is not a well-formed JWT'
  if (error instanceof errors.JOSENotSupported) return 'it uses an unsupported algorithm or header'
  return 'it could not be verified'
}

/** Only to word the message: the decision to reject was already made by `jwtVerify`. */
function unsigned(token: string): boolean {
  try {
    return String(decodeProtectedHeader(token).alg).toLowerCase() === 'none'
  } catch {
    return false
  }
}
