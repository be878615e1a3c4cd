import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { backoffFetch } from './backoff-fetch.js'

type Call = { at: number; input: unknown; init: RequestInit | undefined }

/** An inner fetch written for `(url, init)`: answers from a list and records what it was given. */
function scripted(...answers: (() => Response)[]) {
  const calls: Call[] = []
  const fetch = vi.fn(async (input: unknown, init?: RequestInit) => {
    calls.push({ at: Date.now(), input, init })
    return answers[Math.min(calls.length - 1, answers.length - 1)]()
  })
  return { calls, fetch: fetch as never as typeof globalThis.fetch }
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  () =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    })
const ok = json(200, { ok: true })
const gemini429 = (retryDelay: string) => ({
  error: {
    code: 429,
    message: 'Resource has been exhausted (e.g. check quota).',
    status: 'RESOURCE_EXHAUSTED',
    details: [
      { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [] },
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay },
    ],
  },
})

describe('backoffFetch', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    vi.setSystemTime(Date.UTC(2026, 0, 1))
  })
  afterEach(() => vi.useRealTimers())

  it.each([
    ['plain', gemini429('13s')],
    ['array-wrapped', [gemini429('13s')]],
  ])("waits Gemini's RetryInfo.retryDelay of 13 s (%s body), to the millisecond", async (_name, body) => {
    const upstream = scripted(json(429, body), ok)
    const t0 = Date.now()
    const pending = backoffFetch({ fetch: upstream.fetch, random: () => 0 })('https://gemini.test/v1', {
      method: 'POST',
      body: '{}',
    })
    await vi.advanceTimersByTimeAsync(12_999)
    expect(upstream.calls).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    const response = await pending
    expect(response.status).toBe(200)
    expect(upstream.calls.map((call) => call.at - t0)).toEqual([0, 13_000])
  })

  it('a 45 s Gemini delay, within the default maxRetryAfterMs of 60 s, is waited in full', async () => {
    const upstream = scripted(json(429, gemini429('45s')), ok)
    const pending = backoffFetch({ fetch: upstream.fetch })('https://gemini.test/v1')
    await vi.advanceTimersByTimeAsync(45_000)
    expect((await pending).status).toBe(200)
    expect(upstream.calls.map((call) => call.at - upstream.calls[0].at)).toEqual([0, 45_000])
  })

  it('Retry-After: 3600 with maxRetryAfterMs 60000 returns the 429 at once, body intact', async () => {
    const upstream = scripted(json(429, { error: { message: 'daily quota' } }, { 'retry-after': '3600' }), ok)
    const onRetry = vi.fn()
    const t0 = Date.now()
    const response = await backoffFetch({ fetch: upstream.fetch, maxRetryAfterMs: 60_000, onRetry })(
      'https://api.test/v1',
    )
    expect(response.status).toBe(429)
    expect(Date.now() - t0).toBe(0)
    expect(upstream.calls).toHaveLength(1)
    expect(onRetry).not.toHaveBeenCalled()
    expect(await response.json()).toEqual({ error: { message: 'daily quota' } })
  })

  it('a Retry-After within maxRetryAfterMs is waited as given, not clamped to maxDelayMs', async () => {
    const upstream = scripted(json(429, {}, { 'retry-after': '90' }), ok)
    const pending = backoffFetch({ fetch: upstream.fetch, maxDelayMs: 1000, maxRetryAfterMs: 120_000 })(
      'https://api.test/v1',
    )
    await vi.advanceTimersByTimeAsync(90_000)
    expect((await pending).status).toBe(200)
    expect(upstream.calls[1].at - upstream.calls[0].at).toBe(90_000)
  })

  it.each([520, 521, 522, 523, 524, 529, 500, 502, 503, 504, 408, 409, 429])('retries %i', async (status) => {
    const upstream = scripted(json(status, {}), ok)
    const pending = backoffFetch({ fetch: upstream.fetch, random: () => 0.5 })('https://api.test/v1')
    await vi.advanceTimersByTimeAsync(1000)
    expect((await pending).status).toBe(200)
    expect(upstream.calls).toHaveLength(2)
  })

  it.each([400, 401, 404, 501, 505])('does not retry %i', async (status) => {
    const upstream = scripted(json(status, {}), ok)
    expect((await backoffFetch({ fetch: upstream.fetch })('https://api.test/v1')).status).toBe(status)
    expect(upstream.calls).toHaveLength(1)
  })

  it("hands the inner fetch the caller's own arguments, dispatcher included, and counts the attempts", async () => {
    const upstream = scripted(
      json(503, {}, { 'retry-after-ms': '10' }),
      json(503, {}, { 'retry-after-ms': '10' }),
      ok,
    )
    const dispatcher = { dispatch: () => true, marker: 'proxy' }
    const init = {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Stainless-Retry-Count': '0' },
      body: '{"model":"gpt-4o"}',
      dispatcher,
    } as RequestInit
    const url = 'https://api.test/v1/chat/completions'
    const pending = backoffFetch({ fetch: upstream.fetch })(url, init)
    await vi.advanceTimersByTimeAsync(100)
    expect((await pending).status).toBe(200)
    expect(upstream.calls).toHaveLength(3)
    // The first attempt gets exactly what the caller passed.
    expect(upstream.calls[0].input).toBe(url)
    expect(upstream.calls[0].init).toBe(init)
    for (const [attempt, call] of upstream.calls.entries()) {
      expect(call.input).toBe(url)
      expect((call.init as { dispatcher?: unknown }).dispatcher).toBe(dispatcher)
      expect(call.init?.body).toBe('{"model":"gpt-4o"}')
      expect(call.init?.headers).toEqual({
        'Content-Type': 'application/json',
        'X-Stainless-Retry-Count': String(attempt),
      })
    }
    // The caller's own init was not changed.
    expect(init.headers).toEqual({ 'Content-Type': 'application/json', 'X-Stainless-Retry-Count': '0' })
  })

  it('a Request input is sent as itself first, then as clones with the body intact', async () => {
    const bodies: string[] = []
    const inputs: unknown[] = []
    const fetch = (async (input: Request) => {
      inputs.push(input)
      bodies.push(await input.text())
      return bodies.length === 1 ? json(502, {})() : ok()
    }) as never as typeof globalThis.fetch
    const request = new Request('https://api.test/v1', { method: 'POST', body: 'payload' })
    const pending = backoffFetch({ fetch, random: () => 0 })(request)
    await vi.advanceTimersByTimeAsync(10)
    expect((await pending).status).toBe(200)
    expect(inputs[0]).toBe(request)
    expect(inputs[1]).not.toBe(request)
    expect(bodies).toEqual(['payload', 'payload'])
  })

  it('a streamed body is sent once and never retried', async () => {
    const upstream = scripted(json(503, {}), ok)
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('once'))
        controller.close()
      },
    })
    const response = await backoffFetch({ fetch: upstream.fetch })('https://api.test/v1', {
      method: 'POST',
      body,
      duplex: 'half',
    } as RequestInit)
    expect(response.status).toBe(503)
    expect(upstream.calls).toHaveLength(1)
  })

  it('x-should-retry: false wins over a retryable status; true adds one', async () => {
    const no = scripted(json(503, {}, { 'x-should-retry': 'false' }), ok)
    expect((await backoffFetch({ fetch: no.fetch })('https://api.test/v1')).status).toBe(503)
    const yes = scripted(json(400, {}, { 'x-should-retry': 'true', 'retry-after-ms': '5' }), ok)
    const pending = backoffFetch({ fetch: yes.fetch })('https://api.test/v1')
    await vi.advanceTimersByTimeAsync(5)
    expect((await pending).status).toBe(200)
  })

  it('on a 429 without Retry-After, waits for the reset of the exhausted quota', async () => {
    const upstream = scripted(
      json(429, {}, { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1.5s' }),
      ok,
    )
    const pending = backoffFetch({ fetch: upstream.fetch })('https://api.test/v1')
    await vi.advanceTimersByTimeAsync(1500)
    expect((await pending).status).toBe(200)
    expect(upstream.calls[1].at - upstream.calls[0].at).toBe(1500)
  })
})
