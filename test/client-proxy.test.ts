import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { backoffFetch } from '@llm-limit/client'
import OpenAI from 'openai'
import { ProxyAgent, fetch as undiciFetch } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'

type Handler = (req: IncomingMessage, res: ServerResponse, index: number) => void

/** A local upstream that records, for each request, the port it came from. */
async function upstream(handler: Handler) {
  const fromPorts: number[] = []
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      fromPorts.push(req.socket.remotePort as number)
      handler(req, res, fromPorts.length - 1)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, fromPorts }
}

/** A tiny CONNECT proxy that counts its tunnels and the local ports of its upstream sockets. */
async function connectProxy() {
  const state = { tunnels: 0, ports: new Set<number>(), plain: 0 }
  const server = createServer((_req, res) => {
    state.plain++
    res.writeHead(502).end('this proxy only tunnels')
  })
  server.on('connect', (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
    state.tunnels++
    const [host, port] = (req.url ?? '').split(':')
    const target = net.connect(Number(port), host, () => {
      state.ports.add(target.localPort as number)
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      target.write(head)
      target.pipe(socket)
      socket.pipe(target)
    })
    target.on('error', () => socket.destroy())
    socket.on('error', () => target.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state }
}

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hi!' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
}

/** The first answer is a 429 asking for 50 ms, then a completion. */
const limitedOnce: Handler = (req, res, index) => {
  if (index === 0) {
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after-ms': '50' })
    res.end(
      JSON.stringify({ error: { message: 'slow down', type: 'requests', code: 'rate_limit_exceeded' } }),
    )
    return
  }
  res.writeHead(200, {
    'content-type': 'application/json',
    'x-seen-retry-count': String(req.headers['x-stainless-retry-count']),
  })
  res.end(JSON.stringify(completion))
}

const cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of cleanup.splice(0)) await close()
})
const track = (server: ReturnType<typeof createServer>, agent?: ProxyAgent) =>
  cleanup.push(async () => {
    await agent?.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

describe('backoffFetch is a true fetch wrapper', () => {
  it('the OpenAI SDK with fetchOptions.dispatcher sends every attempt through the CONNECT proxy', async () => {
    const target = await upstream(limitedOnce)
    track(target.server)
    const proxy = await connectProxy()
    const proxyAgent = new ProxyAgent(proxy.url)
    track(proxy.server, proxyAgent)
    const retries: number[] = []
    const openai = new OpenAI({
      apiKey: 'test',
      baseURL: `${target.url}/v1`,
      fetch: backoffFetch({ onRetry: ({ delayMs }) => retries.push(delayMs) }),
      fetchOptions: { dispatcher: proxyAgent } as never,
      maxRetries: 0,
    })
    const { data, response } = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] })
      .withResponse()
    expect(data.choices[0].message.content).toBe('Hi!')
    expect(retries).toEqual([50])
    expect(target.fromPorts).toHaveLength(2)
    expect(proxy.state.tunnels).toBeGreaterThanOrEqual(1)
    expect(proxy.state.plain).toBe(0)
    // Every request reached the upstream from one of the proxy's own sockets.
    for (const port of target.fromPorts) expect(proxy.state.ports.has(port)).toBe(true)
    // The retry told the server which attempt it was.
    expect(response.headers.get('x-seen-retry-count')).toBe('1')
  })

  it('negative control: without the dispatcher the same client goes direct', async () => {
    const target = await upstream(limitedOnce)
    track(target.server)
    const proxy = await connectProxy()
    track(proxy.server)
    const openai = new OpenAI({
      apiKey: 'test',
      baseURL: `${target.url}/v1`,
      fetch: backoffFetch(),
      maxRetries: 0,
    })
    await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
    })
    expect(proxy.state.tunnels).toBe(0)
    for (const port of target.fromPorts) expect(proxy.state.ports.has(port)).toBe(false)
  })

  it("backoffFetch({ fetch: undiciFetch }) works, through undici's ProxyAgent too", async () => {
    const target = await upstream(limitedOnce)
    track(target.server)
    const proxy = await connectProxy()
    const dispatcher = new ProxyAgent(proxy.url)
    track(proxy.server, dispatcher)
    const fetcher = backoffFetch({ fetch: undiciFetch as never })
    const response = await fetcher(`${target.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-stainless-retry-count': '0' },
      body: JSON.stringify({ model: 'gpt-4o-mini' }),
      dispatcher,
    } as RequestInit)
    expect(response.status).toBe(200)
    expect(((await response.json()) as typeof completion).choices[0].message.content).toBe('Hi!')
    expect(response.headers.get('x-seen-retry-count')).toBe('1')
    expect(target.fromPorts).toHaveLength(2)
    for (const port of target.fromPorts) expect(proxy.state.ports.has(port)).toBe(true)
  })

  it("the OpenAI SDK over undici's own fetch and ProxyAgent", async () => {
    const target = await upstream(limitedOnce)
    track(target.server)
    const proxy = await connectProxy()
    const dispatcher = new ProxyAgent(proxy.url)
    track(proxy.server, dispatcher)
    const openai = new OpenAI({
      apiKey: 'test',
      baseURL: `${target.url}/v1`,
      fetch: backoffFetch({ fetch: undiciFetch as never }),
      fetchOptions: { dispatcher } as never,
      maxRetries: 0,
    })
    const result = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
    })
    expect(result.choices[0].message.content).toBe('Hi!')
    expect(proxy.state.tunnels).toBeGreaterThanOrEqual(1)
    for (const port of target.fromPorts) expect(proxy.state.ports.has(port)).toBe(true)
  })
})
