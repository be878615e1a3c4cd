/** True for a dotted-quad IPv4 address without leading zeros (`010` could mean octal, so it is refused). */
export function isIpv4(text: string): boolean {
  // Every request's IP is checked: anything of another length is refused before a character is read.
  const length = text.length
  return length >= 7 && length <= 15 && ipv4Value(text, 0, length) >= 0
}

/**
 * The 32-bit value of the dotted quad in `text[start, end)`, or -1: one pass that keeps only the
 * current octet, so the hot path allocates nothing.
 */
export function ipv4Value(text: string, start: number, end: number): number {
  let dots = 0
  let octet = 0
  let digits = 0
  let value = 0
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i)
    if (code === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return -1
      value = value * 256 + octet
      octet = 0
      digits = 0
    } else {
      const digit = code - 48
      // A second digit after a leading zero is refused, like any character but a digit.
      if (digit < 0 || digit > 9 || (digits > 0 && octet === 0)) return -1
      octet = octet * 10 + digit
      if (++digits > 3 || octet > 255) return -1
    }
  }
  return dots === 3 && digits > 0 ? value * 256 + octet : -1
}

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48
  const lower = code | 32
  return lower >= 97 && lower <= 102 ? lower - 87 : -1
}

/**
 * The eight 16-bit groups of an IPv6 address (every `::` form and a trailing dotted IPv4), or
 * undefined; brackets and zone ids must already be stripped.
 */
export function parseIpv6(text: string): number[] | undefined {
  const end = text.length
  const groups: number[] = []
  let gap = -1
  let i = 0
  if (end < 2) return undefined
  if (text.charCodeAt(0) === 58 /* : */) {
    // A leading colon is only legal as the first half of `::`.
    if (text.charCodeAt(1) !== 58) return undefined
    gap = 0
    i = 2
  }
  while (i < end) {
    const start = i
    let value = 0
    while (i < end && hexDigit(text.charCodeAt(i)) >= 0) value = value * 16 + hexDigit(text.charCodeAt(i++))
    if (i < end && text.charCodeAt(i) === 46) {
      const v4 = groups.length <= 6 ? ipv4Value(text, start, end) : -1
      if (v4 < 0) return undefined
      groups.push(Math.floor(v4 / 65536), v4 % 65536)
      break
    }
    if (i === start || i - start > 4) return undefined
    groups.push(value)
    if (i === end) break
    if (text.charCodeAt(i) !== 58) return undefined
    if (++i === end) return undefined
    if (text.charCodeAt(i) === 58) {
      if (gap >= 0) return undefined
      gap = groups.length
      i++
    }
  }
  if (gap < 0) return groups.length === 8 ? groups : undefined
  // `::` stands for at least one zero group.
  if (groups.length > 7) return undefined
  groups.splice(gap, 0, ...new Array<number>(8 - groups.length).fill(0))
  return groups
}

/**
 * The address as bytes: 4 for IPv4 and IPv4-mapped IPv6, 16 for other IPv6; brackets and zone ids
 * are stripped. Undefined for anything else.
 */
export function ipBytes(text: string): number[] | undefined {
  if (text.indexOf(':') < 0) {
    const v4 = ipv4Value(text, 0, text.length)
    return v4 < 0 ? undefined : [v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255]
  }
  const groups = parseIpv6(stripIpv6Decoration(text))
  if (groups === undefined) return undefined
  if (isMapped(groups)) return [groups[6] >> 8, groups[6] & 255, groups[7] >> 8, groups[7] & 255]
  return groups.flatMap((group) => [group >> 8, group & 255])
}

/** `[addr]:port` → `addr`, `addr%zone` → `addr`: forms sockets and headers use for the same address. */
export function stripIpv6Decoration(text: string): string {
  if (text.charCodeAt(0) === 91 /* [ */) {
    const close = text.indexOf(']')
    text = text.slice(1, close < 0 ? undefined : close)
  }
  const zone = text.indexOf('%')
  return zone < 0 ? text : text.slice(0, zone)
}

/** True for `::ffff:a.b.c.d`, an IPv4 client seen through a dual-stack socket. */
export function isMapped(groups: readonly number[]): boolean {
  return (
    groups[0] === 0 &&
    groups[1] === 0 &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0 &&
    groups[5] === 0xffff
  )
}

/** `1.2.3.4:5678` → `1.2.3.4`: some proxies (Azure Application Gateway) append the peer's port; IPv6 ports come bracketed. */
export function withoutIpv4Port(address: string): string {
  const colon = address.indexOf(':')
  if (colon <= 0 || address.indexOf('.') < 0 || colon !== address.lastIndexOf(':')) return address
  const port = address.length - colon - 1
  if (port < 1 || port > 5) return address
  for (let i = colon + 1; i < address.length; i++) {
    const code = address.charCodeAt(i)
    if (code < 48 || code > 57) return address
  }
  return address.slice(0, colon)
}
