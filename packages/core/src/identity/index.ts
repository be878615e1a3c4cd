export { compileTrustedProxies, inCidr } from './cidr.js'
export { clientIpFromForwarded } from './forwarded.js'
export { hashApiKey } from './hash-api-key.js'
export { createIdentifier } from './identifier.js'
export type {
  ApiKeyInfo,
  ApiKeyOptions,
  IdentifyOptions,
  IdentityError,
  IdentityResult,
  JwtOptions,
} from './identify-options.js'
export { normalizeIp, UNKNOWN_IP } from './normalize-ip.js'
export { isIpv4, parseIpv6 } from './parse-ip.js'
export {
  type Counted,
  createWarnings,
  resetWarnings,
  trackInFlight,
  type ValidationsOption,
  type WarningCode,
  type Warnings,
  type WarningsOptions,
} from './warnings.js'
