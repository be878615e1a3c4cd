import { serve } from '@hono/node-server'
import { llmLimit } from '@llm-limit/hono'
import { type ChatBody, demoRules, fakeChatCompletion } from 'express-openai-proxy/shared'
import { Hono } from 'hono'

const port = Number(process.env.PORT ?? 8789)
const app = new Hono()
app.use('/v1/*', llmLimit({ rules: demoRules }))
app.post('/v1/chat/completions', async (c) => {
  // llmLimit already parsed the body; c.req.json() returns the cached value.
  const answer = fakeChatCompletion((await c.req.json()) as ChatBody, c.get('llmLimit').estimate.inputTokens)
  if (answer.kind === 'json') return c.json(answer.body)
  return new Response(answer.events.join(''), { headers: { 'content-type': 'text/event-stream' } })
})
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => {
  console.log(`llm-limit Hono proxy on http://127.0.0.1:${port}/v1 (offline, fake upstream)`)
})
