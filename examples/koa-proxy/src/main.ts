import { Readable } from 'node:stream'
import { llmLimit } from '@llm-limit/koa'
import { demoRules, fakeChatCompletion, unknownRoute } from 'express-openai-proxy/shared'
import Koa from 'koa'

const port = Number(process.env.PORT ?? 8788)
const app = new Koa()
// No body parser: llmLimit reads the JSON body itself and leaves it on ctx.request.body.
app.use(llmLimit({ rules: demoRules }))
app.use(async (ctx) => {
  const answer =
    ctx.method === 'POST' && ctx.path === '/v1/chat/completions'
      ? fakeChatCompletion(ctx.request.body, ctx.state.llmLimit?.estimate.inputTokens ?? 0)
      : unknownRoute(ctx.method, ctx.path)
  if (answer.kind === 'json') {
    ctx.status = answer.status
    ctx.body = answer.body
  } else {
    ctx.type = 'text/event-stream'
    ctx.body = Readable.from(answer.events)
  }
})
app.listen(port, '127.0.0.1', () =>
  console.log(`llm-limit Koa proxy on http://127.0.0.1:${port}/v1 (offline, fake upstream)`),
)
