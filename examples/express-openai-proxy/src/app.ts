import { type Limiter, type LimiterOptions, memoryStore } from '@llm-limit/core'
import { llmLimit } from '@llm-limit/express'
import express, { type Express } from 'express'
import { forward } from './forward.js'
import {
  anthropicError,
  demoRules,
  type FakeAnswer,
  fakeAnthropicMessage,
  fakeChatCompletion,
  openAiError,
  unknownRoute,
} from './shared.js'

/** Where to forward requests; without a URL and key, the built-in fake upstream answers offline. */
export interface UpstreamConfig {
  /** OpenAI-compatible base URL, such as https://api.openai.com/v1. */
  url?: string
  /** Its API key. */
  apiKey?: string
  /** Anthropic base URL. @default 'https://api.anthropic.com' */
  anthropicUrl?: string
  /** Anthropic API key; without it, /v1/messages is answered by the fake upstream. */
  anthropicKey?: string
}

const SERVED = 'POST /v1/chat/completions, POST /v1/messages and GET /v1/limits'

/** Builds the proxy app: llmLimit in front of OpenAI's and Anthropic's routes, forwarding or faking the upstream. */
export function createApp(
  upstream: UpstreamConfig = {},
  options: LimiterOptions = {},
): { app: Express; limiter: Limiter } {
  const app = express()
  app.disable('x-powered-by')
  // One store for both limiters: a caller's limits are the same whichever API it speaks.
  const store = options.store ?? memoryStore()
  // No body parser: llmLimit reads the JSON itself (at most 4 MiB) and answers malformed JSON with a 400.
  const limit = llmLimit({
    rules: demoRules,
    ...options,
    store,
    // /v1/limits tells callers their limits, so it must not spend them; /v1/messages has its own limiter.
    routes: { 'GET /v1/limits': { skip: true }, ...options.routes },
    skip: (request) => request.path === '/v1/messages' || options.skip?.(request) === true,
  })
  const anthropicLimit = llmLimit({ rules: demoRules, ...options, store, errorFormat: 'anthropic' })
  app.post('/v1/messages', anthropicLimit)
  app.use('/v1', limit)

  const send = (res: express.Response, answer: FakeAnswer) => {
    if (answer.kind === 'json') {
      res.status(answer.status).json(answer.body)
      return
    }
    res.setHeader('content-type', 'text/event-stream')
    for (const event of answer.events) res.write(event)
    res.end()
  }

  app.post('/v1/chat/completions', async (req, res, next) => {
    try {
      if (!upstream.url || !upstream.apiKey) {
        send(res, fakeChatCompletion(req.body, req.llmLimit?.estimate.inputTokens ?? 0))
        return
      }
      const answer = await fetch(`${upstream.url.replace(/\/$/, '')}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${upstream.apiKey}` },
        body: JSON.stringify(req.body),
      })
      await forward(answer, res)
    } catch (error) {
      next(error)
    }
  })

  app.post('/v1/messages', async (req, res) => {
    try {
      if (!upstream.anthropicKey) {
        send(res, fakeAnthropicMessage(req.body, req.llmLimit?.estimate.inputTokens ?? 0))
        return
      }
      const base = (upstream.anthropicUrl ?? 'https://api.anthropic.com').replace(/\/$/, '')
      const version = req.headers['anthropic-version']
      const answer = await fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-api-key': upstream.anthropicKey,
          'anthropic-version': typeof version === 'string' ? version : '2023-06-01',
        },
        body: JSON.stringify(req.body),
      })
      await forward(answer, res)
    } catch (error) {
      const { status, body } = anthropicError(
        502,
        'api_error',
        `The upstream call failed: ${(error as Error).message}`,
      )
      res.status(status).json(body)
    }
  })

  app.get('/v1/limits', (_req, res) => {
    res.json({ rules: demoRules })
  })

  // Clients of an OpenAI-compatible API parse JSON errors, never an HTML page.
  app.use((req, res) => {
    const { status, body } = unknownRoute(req.method, req.path, SERVED)
    res.status(status).json(body)
  })
  app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const { status, body } = openAiError(
      502,
      `The upstream call failed: ${error.message}`,
      null,
      'upstream_error',
    )
    res.status(status).json(body)
  })
  return { app, limiter: limit.limiter }
}
