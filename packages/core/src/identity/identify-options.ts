import type { Identity, LimitRequest } from '../types.js'

/** What an API-key resolver may say about a key. */
export interface ApiKeyInfo {
  /** The key's user. @default none */
  user?: string
  /** The key's plan. @default none */
  plan?: string
}

/** Where API keys come from and what is known about them. */
export interface ApiKeyOptions {
  /** Header holding the key; `authorization` expects the Bearer scheme, any other header the bare key. @default 'authorization' (Bearer), then 'x-api-key' */
  header?: string
  /** Maps a key, by its hash (`hashApiKey`), to a user and plan; undefined means unknown. A resolver that throws fails the request. @default none (every key is anonymous) */
  resolve?: (keyHash: string) => ApiKeyInfo | undefined | Promise<ApiKeyInfo | undefined>
  /** Answer 401 for a missing, malformed or unknown key (needs `resolve`). @default false */
  rejectUnknown?: boolean
}

/** JWT verification with `jose`: exactly one of `secret`, `publicKey`, `jwksUrl`, and pinned algorithms. */
export interface JwtOptions {
  /** Shared secret for HS256/384/512, at least as long as the hash (32 bytes for HS256). @default none */
  secret?: string | Uint8Array
  /** PEM (SPKI) public key for RS*, PS*, ES*, EdDSA/Ed25519. @default none */
  publicKey?: string
  /** URL of a JSON Web Key Set (http or https). @default none */
  jwksUrl?: string
  /** Accepted algorithms, e.g. `['RS256']`; required, because trusting the token's own `alg` allows algorithm confusion. */
  algorithms: string[]
  /** Required `iss` claim. @default not checked */
  issuer?: string
  /** Required `aud` claim. @default not checked */
  audience?: string
  /** Header holding the token; `authorization` expects the Bearer scheme. @default 'authorization' */
  header?: string
  /** Claim holding the user id. @default 'sub' */
  userClaim?: string
  /** Claim holding the plan. @default 'plan' */
  planClaim?: string
  /** Least time between two JWKS fetches, however many unknown `kid`s (or fetch failures) arrive. @default 30_000 */
  jwksCooldownMs?: number
}

/** How callers are identified (the `identify` option). */
export interface IdentifyOptions {
  /** IP grouping, or false to ignore IPs; the IP is only ever `request.ip`, never a header. @default { ipv6Subnet: 56 } */
  ip?: { /** IPv6 prefix length that counts as one client. @default 56 */ ipv6Subnet?: number } | false
  /** Where API keys come from, or false to ignore them. @default { header: 'authorization' (Bearer), then 'x-api-key' } */
  apiKey?: ApiKeyOptions | false
  /** JWT verification; a Bearer token shaped like a JWT is verified, and a failure is a 401. @default off */
  jwt?: JwtOptions
  /** The application's own authenticated user, used when `request.user` is absent; it takes precedence over users from tokens and keys. @default request.user */
  user?: (request: LimitRequest) => string | undefined
}

/** A 401 answer (the caller presented a credential that is not good enough), or a 503 (it could not be checked). */
export interface IdentityError {
  /** 401, or 503 when `apiKey.resolve` failed or the JWKS could not be fetched, so nothing was checked. */
  status: 401 | 503
  /** `invalid_api_key`, `invalid_token`, `key_lookup_failed` or `jwks_unavailable`, in the style of OpenAI's error codes. */
  code: string
  /** Says what was wrong and what to do; never contains the credential. */
  message: string
}

/** An identity, or the 401 or 503 to answer with. */
export type IdentityResult = { identity: Identity } | { error: IdentityError }
