import { describe, expect, it } from 'vitest'
import { createLimiter } from '../engine/limiter.js'
import { formatBody } from './format-body.js'

const request = { method: 'POST', path: '/v1/x', headers: {}, ip: '192.0.2.1' }

describe("the 'problem' format", () => {
  it('a quota denial is IANA quota-exceeded, naming the policies it exceeded', async () => {
    const limiter = createLimiter({
      rules: [
        { name: 'roomy', by: 'ip', requests: 100, per: '1m' },
        { name: 'tiny', by: 'ip', requests: 1, per: '1m' },
      ],
    })
    await limiter.check(request)
    const { status, contentType, body } = formatBody(await limiter.check(request), 'problem')
    expect(status).toBe(429)
    expect(contentType).toBe('application/problem+json')
    expect(JSON.parse(body)).toMatchObject({
      type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
      title: 'Request cannot be satisfied as assigned quota has been exceeded',
      status: 429,
      'violated-policies': ['tiny'],
      code: 'rate_limit_exceeded',
      rule: 'tiny',
    })
  })

  it('other refusals are about:blank with their status phrase and no violated policies', async () => {
    const limiter = createLimiter({ rules: [{ name: 'tiny', by: 'ip', requests: 1, per: '1m' }] })
    const decision = await limiter.check({ ...request, path: '/v1/chat/completions', body: { model: '' } })
    const problem = JSON.parse(formatBody(decision, 'problem').body)
    expect(problem).toMatchObject({ type: 'about:blank', title: 'Bad Request', status: 400 })
    expect(problem).not.toHaveProperty('violated-policies')
  })
})
