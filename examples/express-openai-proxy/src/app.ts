import type { Limiter, LimiterOptions } from '@llm-limit/core'
import { llmLimit } from '@llm-limit/express'
import express, { type Express } from 'express'
import { demoRules, fakeChatCompletion, openAiError, unknownRoute } from './shared.js'

/** Where to forward requests; without both, the built-in fake upstream answers offline. */
export interface UpstreamConfig {
  url?: string
  apiKey?: string
}

/** Builds the proxy app: llmLimit in front of /v1/chat/completions, forwarding or faking the upstream. */
export function createApp(
  upstream: UpstreamConfig = {},
  options: LimiterOptions = {},
): { app: Express; limiter: Limiter } {
  const app = express()
  app.disable('x-powered-by')
  // No body parser: llmLimit reads the JSON itself (at most 4 MiB) and answers malformed JSON with a 400.
  const limit = llmLimit({ rules: demoRules, ...options })
  app.use('/v1', limit)

  app.post('/v1/chat/completions', async (req, res, next) => {
    try {
      if (!upstream.url || !upstream.apiKey) {
        const answer = fakeChatCompletion(req.body, req.llmLimit?.estimate.inputTokens ?? 0)
        if (answer.kind === 'json') {
          res.status(answer.status).json(answer.body)
          return
        }
        res.setHeader('content-type', 'text/event-stream')
        for (const event of answer.events) res.write(event)
        res.end()
        return
      }
      const answer = await fetch(`${upstream.url.replace(/\/$/, '')}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${upstream.apiKey}` },
        body: JSON.stringify(req.body),
      })
      res.status(answer.status)
      const type = answer.headers.get('content-type')
      if (type) res.setHeader('content-type', type)
      if (!answer.body) {
        res.end()
        return
      }
      // Stream the upstream body through; llmLimit reads the usage from it on the way.
      for await (const chunk of answer.body) res.write(chunk)
      res.end()
    } catch (error) {
      next(error)
    }
  })

  app.get('/v1/limits', (req, res) => {
    res.json({ identity: req.llmLimit?.identity, rules: req.llmLimit?.rules })
  })

  // Clients of an OpenAI-compatible API parse JSON errors, never an HTML page.
  app.use((req, res) => {
    const { status, body } = unknownRoute(
      req.method,
      req.path,
      'POST /v1/chat/completions and GET /v1/limits',
    )
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
