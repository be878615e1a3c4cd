import { configError, shown } from '../errors.js'
import { ipBytes } from './parse-ip.js'

/** Named ranges, as Express' `trust proxy` (proxy-addr) spells them. */
const NAMED: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
}

interface Range {
  readonly bytes: readonly number[]
  readonly bits: number
}

function parseRange(entry: string): Range | undefined {
  const slash = entry.indexOf('/')
  const bytes = ipBytes(slash < 0 ? entry : entry.slice(0, slash))
  if (bytes === undefined) return undefined
  const max = bytes.length * 8
  const bitsText = slash < 0 ? undefined : entry.slice(slash + 1)
  const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : Number.NaN
  return bits >= 0 && bits <= max ? { bytes, bits } : undefined
}

function contains(range: Range, bytes: readonly number[]): boolean {
  if (bytes.length !== range.bytes.length) return false
  for (let i = 0; i * 8 < range.bits; i++) {
    const keep = Math.min(8, range.bits - i * 8)
    const mask = (0xff << (8 - keep)) & 0xff
    if ((bytes[i] & mask) !== (range.bytes[i] & mask)) return false
  }
  return true
}

/**
 * Compiles a trusted-proxy list (`'10.0.0.0/8'`, `'2001:db8::/32'`, single addresses, or the names
 * `loopback`, `linklocal`, `uniquelocal`) into a matcher; a bad entry throws `ERR_CONFIG`, so call
 * it at startup. IPv4 ranges also match the IPv4-mapped IPv6 form of their addresses.
 */
export function compileTrustedProxies(
  list: readonly string[],
  option = 'trustedProxies',
): (ip: string) => boolean {
  const ranges: Range[] = []
  list.forEach((entry, index) => {
    const expanded = typeof entry === 'string' ? (NAMED[entry.trim().toLowerCase()] ?? [entry.trim()]) : []
    for (const text of expanded) {
      const range = parseRange(text)
      if (range === undefined) {
        configError(
          `Expected \`${option}[${index}]\` to be an IP address, a CIDR range like '10.0.0.0/8' or '2001:db8::/32', or one of 'loopback', 'linklocal', 'uniquelocal'; got ${shown(entry)}.`,
        )
      }
      ranges.push(range)
    }
  })
  return (ip) => {
    const bytes = ipBytes(ip)
    return bytes !== undefined && ranges.some((range) => contains(range, bytes))
  }
}

/** True when `ip` is inside `cidr` (`10.0.0.0/8`, `2001:db8::/32`, or a single address); false for anything unparseable. */
export function inCidr(ip: string, cidr: string): boolean {
  const range = parseRange(cidr)
  const bytes = ipBytes(ip)
  return range !== undefined && bytes !== undefined && contains(range, bytes)
}
