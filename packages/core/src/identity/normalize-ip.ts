import { boundedMemo, identityCapacity } from '../bounded-memo.js'
import { isIpv4, isMapped, parseIpv6, stripIpv6Decoration, withoutIpv4Port } from './parse-ip.js'

/** The value every unparseable address maps to, so garbage shares one bucket instead of minting many. */
export const UNKNOWN_IP = 'unknown'

/** Longer input cannot be an address, even bracketed with a zone id; refusing it bounds all later work. */
const MAX_LENGTH = 64
/** Results per prefix length; a separate memo per length so no input can alias another's entry. */
const memos = new Map<number, (ip: string) => string>()

/**
 * Normalises a client IP for use as an identity: IPv4 as is, IPv4-mapped IPv6 folded to IPv4,
 * IPv6 masked to its /`ipv6Subnet` prefix (one customer usually owns a whole /56). Never throws.
 *
 * @example
 * normalizeIp('2001:db8:abcd:1234::1') // '2001:db8:abcd:1200::/56'
 * normalizeIp('::ffff:1.2.3.4')        // '1.2.3.4'
 * normalizeIp('not an ip')             // 'unknown'
 */
export function normalizeIp(ip: string, ipv6Subnet = 56): string {
  return ipNormalizer(ipv6Subnet)(ip)
}

/** `normalizeIp` with the prefix length fixed, for callers that normalise on every request. */
export function ipNormalizer(ipv6Subnet = 56): (ip: string) => string {
  const bits = ipv6Subnet >= 0 ? Math.min(128, Math.floor(ipv6Subnet)) : ipv6Subnet < 0 ? 0 : 56
  let normalize = memos.get(bits)
  if (normalize === undefined) {
    // Returning clients repeat their address, so each one is parsed once.
    const memo = boundedMemo(identityCapacity, (raw: string) => parse(raw, bits))
    normalize = (ip) => {
      if (typeof ip !== 'string' || ip.length === 0 || ip.length > MAX_LENGTH) return UNKNOWN_IP
      // A plain IPv4 address is its own normal form. Checking its few characters costs less than a
      // lookup, which with a million callers in the memo is a cache miss or two.
      if (isIpv4(ip)) return ip
      return memo(ip)
    }
    memos.set(bits, normalize)
  }
  return normalize
}

function parse(raw: string, bits: number): string {
  // A trusted X-Forwarded-For can carry `a.b.c.d:port`, and Express and Koa hand it on as is.
  const ip = withoutIpv4Port(raw)
  if (ip.indexOf(':') < 0) return isIpv4(ip) ? ip : UNKNOWN_IP
  // Dual-stack sockets report every IPv4 client as ::ffff:a.b.c.d; that is the hot path.
  if (ip.startsWith('::ffff:') && ip.indexOf('.') > 0) {
    const v4 = ip.slice(7)
    if (isIpv4(v4)) return v4
  }
  return normalizeIpv6(ip, bits)
}

function normalizeIpv6(ip: string, bits: number): string {
  const groups = parseIpv6(stripIpv6Decoration(ip))
  if (groups === undefined) return UNKNOWN_IP
  if (isMapped(groups)) return `${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.${groups[7] & 255}`
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits - i * 16))
    groups[i] &= (0xffff << (16 - keep)) & 0xffff
  }
  return `${compress(groups)}/${bits}`
}

/** Canonical text of eight groups (RFC 5952): lower-case hex, the first longest run of 2+ zero groups as `::`. */
function compress(groups: readonly number[]): string {
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = groups.map((group) => group.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}
