import { serve } from '@hono/node-server'
import { llmLimit } from '@llm-limit/hono'
import { demoRules, fakeChatCompletion, unknownRoute } from 'express-openai-proxy/shared'
import { Hono } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

const port = Number(process.env.PORT ?? 8789)
const app = new Hono()
app.use('/v1/*', llmLimit({ rules: demoRules }))
app.post('/v1/chat/completions', async (c) => {
  // llmLimit already parsed a JSON body, so c.req.json() returns the cached value; without one it throws.
  const body: unknown = await c.req.json().catch(() => undefined)
  const answer = fakeChatCompletion(body, c.get('llmLimit').estimate.inputTokens)
  if (answer.kind === 'json') return c.json(answer.body, answer.status as ContentfulStatusCode)
  return new Response(answer.events.join(''), { headers: { 'content-type': 'text/event-stream' } })
})
app.notFound((c) => {
  const { status, body } = unknownRoute(c.req.method, c.req.path)
  return c.json(body, status as ContentfulStatusCode)
})
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => {
  console.log(`llm-limit Hono proxy on http://127.0.0.1:${port}/v1 (offline, fake upstream)`)
})
