import { configError, shown } from '../errors.js'
import type { Identity, LimitRequest } from '../types.js'
import { type Credential, looksLikeJwt, MAX_JWT_LENGTH, readCredential } from './credentials.js'
import { hashApiKey } from './hash-api-key.js'
import type { ApiKeyInfo, IdentifyOptions, IdentityResult } from './identify-options.js'
import { createJwtVerifier } from './jwt-verifier.js'
import { ipNormalizer } from './normalize-ip.js'

const invalidKey = (message: string): IdentityResult => ({
  error: { status: 401, code: 'invalid_api_key', message },
})
const MISSING_KEY = 'An API key is required: send it as `Authorization: Bearer <key>`.'
const MALFORMED_KEY =
  'The API key header is malformed: send exactly one key of printable ASCII characters, at most 4096 long.'
const UNKNOWN_KEY = 'The API key is not recognised. Check the key or create a new one.'
const KEY_LOOKUP_FAILED = 'The API key could not be checked right now. Retry shortly.'

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function'
}

/**
 * Builds the identify step from `IdentifyOptions`, validated once here (bad options throw
 * `ERR_CONFIG`). The returned function is synchronous unless a JWT or an async key resolver is
 * involved, since it runs on every request. Raw API keys never leave it: only their hashes do.
 *
 * @example
 * const identify = createIdentifier({ apiKey: { resolve: (hash) => keys.get(hash), rejectUnknown: true } })
 * const result = identify({ method: 'POST', path: '/v1/chat/completions', headers, ip: '203.0.113.9' })
 */
export function createIdentifier(
  options: IdentifyOptions,
): (request: LimitRequest) => IdentityResult | Promise<IdentityResult> {
  const subnet = options.ip === false ? undefined : (options.ip?.ipv6Subnet ?? 56)
  if (subnet !== undefined && (!Number.isInteger(subnet) || subnet < 1 || subnet > 128))
    configError(
      `Expected \`identify.ip.ipv6Subnet\` to be a prefix length from 1 to 128, got ${shown(subnet)}.`,
    )
  const apiKey = options.apiKey === false ? undefined : (options.apiKey ?? {})
  const keyHeader = apiKey?.header?.toLowerCase()
  if (apiKey?.rejectUnknown && !apiKey.resolve)
    configError(
      '`identify.apiKey.rejectUnknown` needs `identify.apiKey.resolve` to tell known keys from unknown ones.',
    )
  const resolve = apiKey?.resolve
  const rejectUnknown = apiKey?.rejectUnknown === true
  const verify = options.jwt ? createJwtVerifier(options.jwt) : undefined
  const jwtHeader = options.jwt?.header?.toLowerCase() ?? 'authorization'
  const appUser = options.user
  const normalizeIp = ipNormalizer(subnet)

  const readKey = (request: LimitRequest): Credential => {
    const headers = request.headers
    if (keyHeader !== undefined) return readCredential(headers[keyHeader], keyHeader === 'authorization')
    return readCredential(headers.authorization, true) ?? readCredential(headers['x-api-key'], false)
  }

  // The resolver is the application's (a database, a cache): its failure is a 503 to retry, never a 500.
  let reported = false
  const lookupFailed = (error: unknown): IdentityResult => {
    if (!reported) {
      reported = true
      console.error(
        '[llm-limit] KEY_LOOKUP_FAILED: identify.apiKey.resolve threw; such requests get 503 until it answers again (logged once):',
        error,
      )
    }
    return { error: { status: 503, code: 'key_lookup_failed', message: KEY_LOOKUP_FAILED } }
  }

  const withInfo = (identity: Identity, info: ApiKeyInfo | undefined): IdentityResult => {
    if (info === undefined || info === null) return rejectUnknown ? invalidKey(UNKNOWN_KEY) : { identity }
    if (typeof info.user === 'string' && identity.user === undefined) identity.user = info.user
    if (typeof info.plan === 'string') identity.plan = info.plan
    return { identity }
  }

  return function identify(request) {
    const identity: Identity = {}
    if (subnet !== undefined && request.ip !== undefined) identity.ip = normalizeIp(request.ip)
    const user = request.user ?? appUser?.(request)
    if (user !== undefined && user !== null) identity.user = String(user)

    if (verify !== undefined) {
      const token = readCredential(request.headers[jwtHeader], jwtHeader === 'authorization', MAX_JWT_LENGTH)
      if (token !== undefined && 'value' in token && looksLikeJwt(token.value))
        return verify(token.value, identity)
    }
    if (apiKey === undefined) return { identity }
    const key = readKey(request)
    if (key === undefined || 'malformed' in key) {
      // An application-authenticated user needs no key; everyone else does when keys are enforced.
      if (!rejectUnknown || identity.user !== undefined) return { identity }
      return invalidKey(key === undefined ? MISSING_KEY : MALFORMED_KEY)
    }
    identity.apiKey = hashApiKey(key.value)
    if (resolve === undefined) return { identity }
    let info: ReturnType<typeof resolve>
    try {
      info = resolve(identity.apiKey)
    } catch (error) {
      return lookupFailed(error)
    }
    if (!isPromiseLike(info)) return withInfo(identity, info)
    return Promise.resolve(info).then((resolved) => withInfo(identity, resolved), lookupFailed)
  }
}
