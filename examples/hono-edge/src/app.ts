import type { Store, Tokenizer } from '@llm-limit/core'
import { llmLimit } from '@llm-limit/hono'
import { type Context, Hono } from 'hono'
import { fakeChatCompletion } from './fake-upstream.js'

/** What differs between runtimes: where counters live and how tokens are counted. */
export interface EdgeAppOptions {
  /** @default memoryStore() (per process; per isolate on Workers) */
  store?: Store
  /** @default gptTokenizer() */
  tokenizer?: Tokenizer
}

/**
 * The one app every runtime serves: an OpenAI-compatible endpoint behind llm-limit, answered by a
 * fake upstream, plus a route under a global limit and one under a concurrency limit.
 */
export function createApp(options: EdgeAppOptions = {}): Hono {
  const app = new Hono()
  const limits = llmLimit({
    store: options.store,
    tokenizer: options.tokenizer,
    rules: [
      { name: 'ip-burst', by: 'ip', requests: 6, per: '1h', algorithm: 'sliding-window' },
      { name: 'key-tpm', by: 'apiKey', tokens: 400, per: '1h', algorithm: 'sliding-window' },
    ],
    routes: {
      'POST /v1/global': {
        rules: [{ name: 'global', by: 'global', requests: 100, per: '1d', algorithm: 'sliding-window' }],
      },
      'POST /v1/hundred': {
        rules: [{ name: 'hundred', by: 'global', requests: 100, per: '1d', algorithm: 'sliding-window' }],
      },
      // The chat answer under the token rule alone, to watch its reconciliation.
      'POST /v1/reconcile': {
        rules: [{ name: 'key-tpm', by: 'apiKey', tokens: 400, per: '1h', algorithm: 'sliding-window' }],
      },
      'POST /v1/pair': { rules: [{ name: 'pair', by: 'global', concurrent: 2 }] },
      'GET /v1/pair': { rules: [{ name: 'pair', by: 'global', concurrent: 2 }] },
      // The caller's token budget without spending it: a GET estimates no tokens.
      'GET /v1/usage': {
        rules: [{ name: 'key-tpm', by: 'apiKey', tokens: 400, per: '1h', algorithm: 'sliding-window' }],
      },
    },
  })
  app.use('/v1/*', limits)
  const chat = async (c: Context) => {
    // llmLimit parsed the JSON body already; c.req.json() returns that cached value.
    const body: unknown = await c.req.json().catch(() => undefined)
    const delayMs = Number(c.req.header('x-fake-delay-ms') ?? 0)
    return fakeChatCompletion(body, c.get('llmLimit').estimate.inputTokens, delayMs)
  }
  app.post('/v1/chat/completions', chat)
  app.post('/v1/reconcile', chat)
  app.post('/v1/global', (c) => c.json({ ok: true }))
  app.post('/v1/hundred', (c) => c.json({ ok: true }))
  // Streams like the chat route, so its lease is held until the last chunk or the client's hang-up.
  app.post('/v1/pair', async (c) => {
    const body: unknown = await c.req.json().catch(() => undefined)
    return fakeChatCompletion(body, 0, Number(c.req.header('x-fake-delay-ms') ?? 0))
  })
  // What the caller's rules look like now (its own lease included), without a body.
  app.get('/v1/pair', (c) => c.json({ rules: c.get('llmLimit').rules }))
  app.get('/v1/usage', (c) => c.json({ rules: c.get('llmLimit').rules }))
  app.get('/v1/whoami', (c) => c.json({ ip: c.get('llmLimit').identity.ip ?? null }))
  app.get('/', (c) => c.text(`llm-limit on ${runtimeName()}`))
  return app
}

/** The runtime serving the app, as far as its globals tell. */
export function runtimeName(): string {
  const global = globalThis as { Bun?: unknown; Deno?: unknown; navigator?: { userAgent?: string } }
  if (global.Bun !== undefined) return 'Bun'
  if (global.Deno !== undefined) return 'Deno'
  if (global.navigator?.userAgent === 'Cloudflare-Workers') return 'Cloudflare Workers'
  return 'Node.js'
}
