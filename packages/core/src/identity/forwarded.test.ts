import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isLlmLimitError } from '../errors.js'
import { compileTrustedProxies, inCidr } from './cidr.js'
import { clientIpFromForwarded } from './forwarded.js'

describe('inCidr and compileTrustedProxies', () => {
  it('matches IPv4 and IPv6 ranges, single addresses, and IPv4-mapped forms of IPv4 ranges', () => {
    expect(inCidr('10.1.2.3', '10.0.0.0/8')).toBe(true)
    expect(inCidr('11.0.0.1', '10.0.0.0/8')).toBe(false)
    expect(inCidr('172.31.255.255', '172.16.0.0/12')).toBe(true)
    expect(inCidr('172.32.0.0', '172.16.0.0/12')).toBe(false)
    expect(inCidr('::ffff:10.9.9.9', '10.0.0.0/8')).toBe(true)
    expect(inCidr('2001:db8:ffff::1', '2001:db8::/32')).toBe(true)
    expect(inCidr('2001:db9::1', '2001:db8::/32')).toBe(false)
    expect(inCidr('[2001:db8::1]', '2001:db8::1')).toBe(true)
    expect(inCidr('fe80::1%eth0', 'fe80::/10')).toBe(true)
    expect(inCidr('192.0.2.1', '192.0.2.1')).toBe(true)
    expect(inCidr('192.0.2.2', '192.0.2.1')).toBe(false)
    expect(inCidr('anything', '0.0.0.0/0')).toBe(false)
    expect(inCidr('8.8.8.8', '0.0.0.0/0')).toBe(true)
    // IPv4 never matches an IPv6 range and vice versa.
    expect(inCidr('10.0.0.1', '::/0')).toBe(false)
    expect(inCidr('10.0.0.1', '10.0.0.0/33')).toBe(false)
  })

  it('knows the named ranges of Express trust proxy', () => {
    const trusted = compileTrustedProxies(['loopback', 'uniquelocal', 'linklocal'])
    for (const ip of ['127.0.0.1', '::1', '10.0.0.1', '192.168.1.1', 'fd00::1', '169.254.1.1', 'fe80::2'])
      expect(trusted(ip), ip).toBe(true)
    for (const ip of ['8.8.8.8', '2001:db8::1', '172.32.0.1', 'garbage']) expect(trusted(ip), ip).toBe(false)
  })

  it('rejects a bad entry at startup with ERR_CONFIG naming the entry', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0/8', '::/129', 'proxy.internal', '10.0.0.0/-1', '10.0.0.0/8x']) {
      let error: unknown
      try {
        compileTrustedProxies(['127.0.0.1', bad])
      } catch (caught) {
        error = caught
      }
      expect(isLlmLimitError(error), bad).toBe(true)
      expect((error as Error).message).toContain('`trustedProxies[1]`')
    }
  })
})

describe('clientIpFromForwarded', () => {
  const proxies = ['10.0.0.0/8', '2001:db8:ffff::/48']

  it('ignores X-Forwarded-For entirely when the socket peer is not a trusted proxy', () => {
    expect(clientIpFromForwarded('198.51.100.7', '203.0.113.9', proxies)).toBe('198.51.100.7')
    expect(clientIpFromForwarded('198.51.100.7', '10.0.0.1', proxies)).toBe('198.51.100.7')
    expect(clientIpFromForwarded('10.0.0.2', '203.0.113.9', [])).toBe('10.0.0.2')
    expect(clientIpFromForwarded('10.0.0.2', undefined, proxies)).toBe('10.0.0.2')
  })

  it('walks right to left past trusted proxies and stops at the first untrusted hop', () => {
    expect(clientIpFromForwarded('10.0.0.2', '203.0.113.9', proxies)).toBe('203.0.113.9')
    expect(clientIpFromForwarded('10.0.0.2', '203.0.113.9, 10.0.0.1', proxies)).toBe('203.0.113.9')
    // The leftmost entries are whatever the client sent: a spoofed hop left of the real one loses.
    expect(clientIpFromForwarded('10.0.0.2', '1.1.1.1, 203.0.113.9,10.0.0.1 ', proxies)).toBe('203.0.113.9')
    expect(clientIpFromForwarded('::ffff:10.0.0.2', '2001:db8:1::5, 2001:db8:ffff::1', proxies)).toBe(
      '2001:db8:1::5',
    )
    expect(clientIpFromForwarded('10.0.0.2', '203.0.113.9:51234, 10.0.0.1', proxies)).toBe('203.0.113.9')
    expect(clientIpFromForwarded('10.0.0.2', '[2001:db8:1::5]:443', proxies)).toBe('[2001:db8:1::5]:443')
  })

  it('answers the leftmost trusted hop when every hop is trusted or a hop is empty', () => {
    expect(clientIpFromForwarded('10.0.0.2', '10.0.0.9, 10.0.0.1', proxies)).toBe('10.0.0.9')
    expect(clientIpFromForwarded('10.0.0.2', '203.0.113.9, , 10.0.0.1', proxies)).toBe('10.0.0.1')
    expect(clientIpFromForwarded('10.0.0.2', ',', proxies)).toBe('10.0.0.2')
  })

  it('1,000 spoofed X-Forwarded-For values from an untrusted peer all give the peer', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 1000; i++)
      seen.add(clientIpFromForwarded('198.51.100.7', `203.0.${i >> 8}.${i & 255}`, proxies))
    expect([...seen]).toEqual(['198.51.100.7'])
  })

  it('never throws, even on a huge header or a bad trusted list, and bounds the walk (property)', () => {
    // After 32 trusted hops the walk gives up at the last trusted hop rather than scan on.
    const huge = `203.0.113.9,${'10.0.0.1,'.repeat(100_000)}10.0.0.1`
    expect(clientIpFromForwarded('10.0.0.2', huge, proxies)).toBe('10.0.0.1')
    expect(clientIpFromForwarded('10.0.0.2', '203.0.113.9', ['not a range'])).toBe('10.0.0.2')
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.string({ maxLength: 300 }), (remote, header) => {
        expect(typeof clientIpFromForwarded(remote, header, proxies)).toBe('string')
      }),
    )
  })
})
