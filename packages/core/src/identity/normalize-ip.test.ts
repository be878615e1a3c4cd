import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { normalizeIp, UNKNOWN_IP } from './normalize-ip.js'
import { isIpv4, parseIpv6 } from './parse-ip.js'

/** Independent reference: WHATWG URL parses and canonicalises IPv6; BigInt does the masking. */
function reference(ip: string, bits: number): string {
  const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1)
  const [head, tail = ''] = canonical.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === '' ? [] : tail.split(':')
  const groups = canonical.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left
  const value = groups.reduce((sum, group) => (sum << 16n) | BigInt(`0x${group}`), 0n)
  if (value >> 32n === 0xffffn) return [24n, 16n, 8n, 0n].map((shift) => (value >> shift) & 255n).join('.')
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(128 - bits)
  const masked = value & mask
  const hex = Array.from({ length: 8 }, (_, i) => ((masked >> BigInt(112 - 16 * i)) & 0xffffn).toString(16))
  return `${new URL(`http://[${hex.join(':')}]/`).hostname.slice(1, -1)}/${bits}`
}

describe('normalizeIp', () => {
  it('drops the port some proxies append to an IPv4 client (a.b.c.d:port), and nothing else', () => {
    expect(normalizeIp('203.0.113.9:50432')).toBe('203.0.113.9')
    expect(normalizeIp('[2001:db8::1]:443')).toBe('2001:db8::/56')
    for (const bad of [
      '203.0.113.9:',
      '203.0.113.9:123456',
      '203.0.113.9:80a',
      '999.0.113.9:80',
      '1.2.3.4:5:6',
    ])
      expect(normalizeIp(bad), bad).toBe(UNKNOWN_IP)
  })

  it('keeps valid IPv4 as is and maps invalid IPv4 to one stable value', () => {
    expect(normalizeIp('203.0.113.9')).toBe('203.0.113.9')
    expect(normalizeIp('0.0.0.0')).toBe('0.0.0.0')
    for (const bad of [
      '256.1.1.1',
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '1.2.3.4 ',
      '1..3.4',
      '1.2.3.',
      'x',
      '',
    ])
      expect(normalizeIp(bad), bad).toBe(UNKNOWN_IP)
  })

  it('folds IPv4-mapped IPv6, dotted or hex, bracketed or with a zone, to IPv4', () => {
    for (const mapped of [
      '::ffff:1.2.3.4',
      '::FFFF:1.2.3.4',
      '::ffff:0102:0304',
      '0:0:0:0:0:ffff:102:304',
      '[::ffff:1.2.3.4]',
      '::ffff:1.2.3.4%eth0',
    ])
      expect(normalizeIp(mapped), mapped).toBe('1.2.3.4')
    // ::1.2.3.4 (IPv4-compatible, deprecated) is not a mapped address; it stays IPv6.
    expect(normalizeIp('::1.2.3.4', 128)).toBe('::102:304/128')
  })

  it('parses every :: form, strips brackets and zone ids, and prints RFC 5952 text', () => {
    const cases: [string, string][] = [
      ['::', '::/128'],
      ['::1', '::1/128'],
      ['1::', '1::/128'],
      ['2001:DB8::1', '2001:db8::1/128'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1/128'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1/128'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8/128'],
      ['1:2:3:4::5:6:7', '1:2:3:4:0:5:6:7/128'],
      ['fe80::1%eth0', 'fe80::1/128'],
      ['[2001:db8::1]', '2001:db8::1/128'],
      ['[2001:db8::1]:443', '2001:db8::1/128'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221/128'],
    ]
    for (const [input, expected] of cases) expect(normalizeIp(input, 128), input).toBe(expected)
    for (const bad of [
      ':',
      ':::',
      '1:::2',
      '1::2::3',
      ':1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '12345::',
      'g::1',
      '1:2:3:4:5:6:7:8::',
      '::1.2.3',
      '1:2:3:4:5:6:7:1.2.3.4',
    ])
      expect(normalizeIp(bad), bad).toBe(UNKNOWN_IP)
  })

  it('groups IPv6 by /56: rotation inside one /56 shares a key, another /56 does not', () => {
    const key = normalizeIp('2001:db8:abcd:1234::1')
    expect(key).toBe('2001:db8:abcd:1200::/56')
    for (let i = 0; i < 256; i++) {
      const rotated = `2001:db8:abcd:12${i.toString(16).padStart(2, '0')}:${((i * 977) & 0xffff).toString(16)}::${i.toString(16)}`
      expect(normalizeIp(rotated)).toBe(key)
    }
    expect(normalizeIp('2001:db8:abcd:1300::1')).not.toBe(key)
    expect(normalizeIp('2001:db8:abcd:11ff:ffff:ffff:ffff:ffff')).not.toBe(key)
    expect(normalizeIp('2001:db8:abcd:1234::1', 64)).toBe('2001:db8:abcd:1234::/64')
    expect(normalizeIp('2001:db8:abcd:1234::1', 48)).toBe('2001:db8:abcd::/48')
  })

  it('caches per prefix length, so an input cannot alias another prefix entry', () => {
    expect(normalizeIp('::1', 57)).toBe('::/57')
    expect(normalizeIp('::1/57')).toBe(UNKNOWN_IP)
    expect(normalizeIp('::1/57', 57)).toBe(UNKNOWN_IP)
  })

  it('never throws, and returns "unknown", a dotted quad or a short masked IPv6 (property)', () => {
    const ipChars = fc.constantFrom(...'0123456789abcdefABCDEF:.[]%/ x\r\n'.split(''))
    const input = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ unit: ipChars, maxLength: 60 }),
      fc.ipV6(),
      fc.ipV4Extended(),
    )
    fc.assert(
      fc.property(input, fc.integer({ min: -10, max: 200 }), (ip, subnet) => {
        const first = normalizeIp(ip, subnet)
        expect(first === UNKNOWN_IP || isIpv4(first) || /^[0-9a-f:]{2,39}\/\d{1,3}$/.test(first)).toBe(true)
        expect(normalizeIp(ip, subnet)).toBe(first)
      }),
      { numRuns: 5000 },
    )
    expect(normalizeIp(undefined as unknown as string)).toBe(UNKNOWN_IP)
    expect(normalizeIp('::1', Number.NaN)).toBe('::/56')
  })

  it('isIpv4 accepts exactly the dotted quads of octets 0-255 without leading zeros (property)', () => {
    const reference = (text: string) =>
      /^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/.test(text) &&
      text.split('.').every((octet) => Number(octet) <= 255)
    const input = fc.oneof(
      fc.ipV4(),
      fc.ipV4Extended(),
      fc.string({ unit: fc.constantFrom(...'0123456789.'.split('')), maxLength: 20 }),
      fc.string({ unit: fc.constantFrom(...'012589.:a '.split('')), maxLength: 17 }),
    )
    fc.assert(
      fc.property(input, (text) => {
        expect(isIpv4(text)).toBe(reference(text))
      }),
      { numRuns: 20_000 },
    )
    for (const text of ['1.2.3.4', '255.255.255.255', '0.0.0.0', '10.0.3.232'])
      expect(isIpv4(text)).toBe(true)
    for (const text of [
      '256.1.1.1',
      '01.2.3.4',
      '1.2.3',
      '1.2.3.4.5',
      '1..2.3',
      '1.2.3.',
      '1.2.3.04',
      '1.2.3.4 ',
    ])
      expect(isIpv4(text)).toBe(false)
  })

  it('agrees with WHATWG URL parsing plus BigInt masking on every IPv6 form (property)', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 0, max: 128 }), (ip, bits) => {
        expect(normalizeIp(ip, bits)).toBe(reference(ip, bits))
      }),
      { numRuns: 5000 },
    )
  })

  it('keeps strict dotted quads and refuses every other IPv4 spelling (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(normalizeIp(ip)).toBe(ip)
      }),
      { numRuns: 2000 },
    )
    fc.assert(
      fc.property(fc.ipV4Extended(), (ip) => {
        expect([ip, UNKNOWN_IP]).toContain(normalizeIp(ip))
      }),
      { numRuns: 2000 },
    )
    expect(parseIpv6('1.2.3.4')).toBeUndefined()
  })
})
