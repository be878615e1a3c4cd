import type { LimitRequest } from '../types.js'

/** Longer API keys are refused unread: no real key is near 4 KB, and hashing them costs CPU. */
const MAX_CREDENTIAL_LENGTH = 4096
/**
 * Longest bearer token read as a JWT: an identity provider's token with many groups or roles
 * (Azure AD, Keycloak) runs past 4 KB; 16 KB is what Node accepts for all headers together.
 */
export const MAX_JWT_LENGTH = 16_384

/** What a credential header held: nothing, something unusable, or a value. */
export type Credential = undefined | { malformed: true } | { value: string }

const MALFORMED: Credential = { malformed: true }

/** Visible ASCII only: CR/LF, spaces, controls and non-ASCII are never part of a key or token. */
function isToken(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x21 || code > 0x7e) return false
  }
  return end > start
}

const isSpace = (code: number) => code === 32 || code === 9

/** Where the token starts after `Bearer ` (any case, any number of spaces), or -1; compares in place, no allocation. */
function afterBearer(text: string, start: number): number {
  const scheme = 'bearer'
  for (let i = 0; i < 6; i++) if ((text.charCodeAt(start + i) | 32) !== scheme.charCodeAt(i)) return -1
  let i = start + 6
  if (!isSpace(text.charCodeAt(i))) return -1
  while (isSpace(text.charCodeAt(i))) i++
  return i
}

/**
 * Reads a credential from a request header's value, treating the value as hostile: repeated headers,
 * oversized values and characters outside visible ASCII are malformed, never an error thrown.
 * With `bearer`, only `Bearer <token>` counts (other schemes such as Basic are not ours).
 */
export function readCredential(
  raw: LimitRequest['headers'][string],
  bearer: boolean,
  maxLength = MAX_CREDENTIAL_LENGTH,
): Credential {
  if (raw === undefined) return undefined
  // Two values for one credential are ambiguous; picking one would let a client choose its identity.
  if (Array.isArray(raw) && raw.length !== 1) return raw.length === 0 ? undefined : MALFORMED
  const text = Array.isArray(raw) ? raw[0] : raw
  if (typeof text !== 'string' || text.length === 0) return undefined
  if (text.length > maxLength) return MALFORMED
  let start = 0
  let end = text.length
  while (start < end && isSpace(text.charCodeAt(start))) start++
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--
  if (bearer) {
    start = afterBearer(text, start)
    if (start < 0 || start > end) return start < 0 && end > 0 ? undefined : MALFORMED
  }
  if (!isToken(text, start, end)) return MALFORMED
  return { value: start === 0 && end === text.length ? text : text.slice(start, end) }
}

/** True for three base64url segments (the signature may be empty, so `alg: none` tokens reach `jwtVerify` and fail there). */
export function looksLikeJwt(token: string): boolean {
  const first = token.indexOf('.')
  const second = first < 0 ? -1 : token.indexOf('.', first + 1)
  if (first < 1 || second < first + 2 || token.indexOf('.', second + 1) >= 0) return false
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i)
    const base64url =
      (code >= 48 && code <= 57) || ((code | 32) >= 97 && (code | 32) <= 122) || code === 45 || code === 95
    if (!base64url && code !== 46) return false
  }
  return true
}
