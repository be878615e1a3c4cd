import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { LimitRequest } from '../types.js'
import { createWarnings, resetWarnings, trackInFlight, type WarningCode } from './warnings.js'

const proxied = (ip: string): LimitRequest => ({
  method: 'GET',
  path: '/',
  headers: { 'x-forwarded-for': '198.51.100.1' },
  ip,
})

function recorder() {
  const lines: [WarningCode, string][] = []
  return { lines, log: (code: WarningCode, message: string) => void lines.push([code, message]) }
}

beforeEach(() => resetWarnings())
afterEach(() => vi.restoreAllMocks())

describe('WARN_TRUST_PROXY', () => {
  it('logs once, with its code and how to silence it, when X-Forwarded-For arrives but the IP is the socket', () => {
    const { lines, log } = recorder()
    const warnings = createWarnings({ log })
    warnings.proxyHeaderWithoutTrust(proxied('203.0.113.9'), '10.0.0.1')
    expect(lines).toEqual([])
    for (let i = 0; i < 5; i++) warnings.proxyHeaderWithoutTrust(proxied('10.0.0.1'), '10.0.0.1')
    createWarnings({ log }).proxyHeaderWithoutTrust(proxied('10.0.0.1'), '10.0.0.1')
    expect(lines).toHaveLength(1)
    expect(lines[0][0]).toBe('WARN_TRUST_PROXY')
    expect(lines[0][1]).toContain('validations: { WARN_TRUST_PROXY: false }')
    expect(lines[0][1]).toContain('validations: false')
  })

  it('says nothing without the header or without a socket address', () => {
    const { lines, log } = recorder()
    const warnings = createWarnings({ log })
    warnings.proxyHeaderWithoutTrust({ method: 'GET', path: '/', headers: {}, ip: '10.0.0.1' }, '10.0.0.1')
    warnings.proxyHeaderWithoutTrust(proxied('10.0.0.1'))
    expect(lines).toEqual([])
  })

  it('can be silenced per code or entirely, in the object form and the bare validations form', () => {
    const { lines, log } = recorder()
    for (const warnings of [
      createWarnings({ enabled: false, log }),
      createWarnings({ enabled: { WARN_TRUST_PROXY: false }, log }),
      createWarnings(false, log),
      createWarnings({ WARN_TRUST_PROXY: false }, log),
    ])
      warnings.proxyHeaderWithoutTrust(proxied('10.0.0.1'), '10.0.0.1')
    expect(lines).toEqual([])
  })

  it('goes to console.warn by default', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    createWarnings().proxyHeaderWithoutTrust(proxied('10.0.0.1'), '10.0.0.1')
    expect(warn).toHaveBeenCalledTimes(1)
    expect(String(warn.mock.calls[0][0])).toMatch(/^\[llm-limit\] WARN_TRUST_PROXY: /)
  })
})

describe('WARN_DOUBLE_COUNT', () => {
  it('warns once when one request passes two limiters that count the same rule', () => {
    const { lines, log } = recorder()
    const first = createWarnings({ log })
    const second = createWarnings({ log })
    const distinct = {}
    first.doubleCount(distinct, [{ name: 'ip-rpm' }])
    second.doubleCount(distinct, [{ name: 'user-tpm' }])
    expect(lines).toEqual([])
    for (let i = 0; i < 3; i++) {
      const req = {}
      first.doubleCount(req, [{ name: 'ip-rpm' }, { name: 'key-rpm' }])
      second.doubleCount(req, [{ name: 'key-rpm' }])
    }
    expect(lines.map(([code]) => code)).toEqual(['WARN_DOUBLE_COUNT'])
    expect(lines[0][1]).toContain('validations: { WARN_DOUBLE_COUNT: false }')
  })

  it('accepts limiter ids and rule names as well as rules', () => {
    const { lines, log } = recorder()
    const a = createWarnings({ log })
    const b = createWarnings({ log })
    const req = {}
    a.doubleCount(req, 'limiter-a')
    b.doubleCount(req, ['limiter-b'])
    expect(lines).toEqual([])
    b.doubleCount(req, 'limiter-a')
    expect(lines).toHaveLength(1)
  })

  it('catches a single limiter mounted twice, and not different requests through it', () => {
    const { lines, log } = recorder()
    const only = createWarnings({ log })
    for (let i = 0; i < 100; i++) only.doubleCount({}, [{ name: 'ip' }])
    expect(lines).toEqual([])
    const req = {}
    only.doubleCount(req, [{ name: 'ip' }])
    only.doubleCount(req, [{ name: 'ip' }])
    expect(lines.map(([code]) => code)).toEqual(['WARN_DOUBLE_COUNT'])
  })

  it('can be silenced', () => {
    const { lines, log } = recorder()
    const a = createWarnings({ enabled: { WARN_DOUBLE_COUNT: false }, log })
    const b = createWarnings({ enabled: { WARN_DOUBLE_COUNT: false }, log })
    const req = {}
    a.doubleCount(req, 'same')
    b.doubleCount(req, 'same')
    expect(lines).toEqual([])
  })
})

describe('WARN_CREATED_IN_HANDLER', () => {
  it('warns once when a limiter is created while adapters report a request in flight', () => {
    const { lines, log } = recorder()
    expect(createWarnings({ log }).createdInHandler()).toBe(false)
    trackInFlight(1)
    const inside = createWarnings({ log })
    createWarnings({ log })
    expect(inside.createdInHandler()).toBe(true)
    trackInFlight(-1)
    createWarnings({ log })
    expect(lines.map(([code]) => code)).toEqual(['WARN_CREATED_IN_HANDLER'])
    expect(lines[0][1]).toContain('validations: { WARN_CREATED_IN_HANDLER: false }')
  })

  it('never goes below zero in flight, and can be silenced', () => {
    const { lines, log } = recorder()
    trackInFlight(-1)
    trackInFlight(1)
    createWarnings({ enabled: { WARN_CREATED_IN_HANDLER: false }, log })
    createWarnings({ enabled: false, log })
    expect(lines).toEqual([])
    trackInFlight(-1)
    createWarnings({ log })
    expect(lines).toEqual([])
  })
})
