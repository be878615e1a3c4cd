import { isLlmLimitError } from '../errors.js'
import { compileTrustedProxies } from './cidr.js'
import { withoutIpv4Port } from './parse-ip.js'

/** More hops than this is not a real proxy chain; the walk gives up rather than scan a hostile header. */
const MAX_HOPS = 32
const NEVER = () => false
/** Matchers per list object: adapters pass the same array on every request, so compile it once. */
const compiled = new WeakMap<readonly string[], (ip: string) => boolean>()

function matcherFor(trustedProxies: readonly string[]): (ip: string) => boolean {
  let matcher = compiled.get(trustedProxies)
  if (matcher === undefined) {
    try {
      matcher = compileTrustedProxies(trustedProxies)
    } catch (error) {
      // This runs per request and must not throw; a bad list trusts nothing (validate at startup instead).
      if (!isLlmLimitError(error)) throw error
      matcher = NEVER
    }
    compiled.set(trustedProxies, matcher)
  }
  return matcher
}

/**
 * The client IP behind trusted proxies, for adapters whose framework has no `trust proxy` of its
 * own (Hono): walks `X-Forwarded-For` from the right, skipping addresses in `trustedProxies`, and
 * returns the first untrusted hop. When the socket peer itself is not trusted, the header is
 * ignored entirely, because anyone can send it. Never throws.
 *
 * @example
 * clientIpFromForwarded('10.0.0.2', '203.0.113.9, 10.0.0.1', ['10.0.0.0/8']) // '203.0.113.9'
 * clientIpFromForwarded('198.51.100.7', '203.0.113.9', ['10.0.0.0/8'])       // '198.51.100.7'
 */
export function clientIpFromForwarded(
  remoteAddress: string,
  forwardedFor: string | undefined,
  trustedProxies: readonly string[],
): string {
  if (!forwardedFor || trustedProxies.length === 0) return remoteAddress
  const trusted = matcherFor(trustedProxies)
  if (!trusted(remoteAddress)) return remoteAddress
  let end = forwardedFor.length
  let leftmost = remoteAddress
  // Walk with lastIndexOf instead of split: the header is client-controlled and may be huge.
  for (let hops = 0; end > 0 && hops < MAX_HOPS; hops++) {
    const comma = forwardedFor.lastIndexOf(',', end - 1)
    const hop = withoutIpv4Port(forwardedFor.slice(comma + 1, end).trim())
    // An empty hop is a malformed chain; the last trusted proxy is the best we know.
    if (hop === '') return leftmost
    if (!trusted(hop)) return hop
    leftmost = hop
    end = Math.max(comma, 0)
  }
  // Every hop is a trusted proxy: the leftmost one is where the request entered.
  return leftmost
}
