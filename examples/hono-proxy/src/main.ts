import { serve } from '@hono/node-server'
import { llmLimit } from '@llm-limit/hono'
import { demoRules, fakeChatCompletion, unknownRoute } from 'express-openai-proxy/shared'
import { Hono } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

const port = Number(process.env.PORT ?? 8789)
const app = new Hono()
app.use('/v1/*', llmLimit({ rules: demoRules }))
app.post('/v1/chat/completions', async (c) => {
  // llmLimit read and counted this body whatever its content type said (text/plain or none too), or
  // answered 400 when it is not JSON, so c.req.json() returns the value it cached. Only an empty body
  // is left for c.req.json() to reject.
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
