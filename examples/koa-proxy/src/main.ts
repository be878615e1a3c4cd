import { Readable } from 'node:stream'
import { llmLimit } from '@llm-limit/koa'
import { type ChatBody, demoRules, fakeChatCompletion } from 'express-openai-proxy/shared'
import Koa from 'koa'

const port = Number(process.env.PORT ?? 8788)
const app = new Koa()
// No body parser: llmLimit reads the JSON body itself and leaves it on ctx.request.body.
app.use(llmLimit({ rules: demoRules }))
app.use(async (ctx) => {
  if (ctx.method !== 'POST' || ctx.path !== '/v1/chat/completions') {
    ctx.status = 404
    ctx.body = {
      error: {
        message: `No route ${ctx.method} ${ctx.path}`,
        type: 'invalid_request_error',
        param: null,
        code: 'not_found',
      },
    }
    return
  }
  const answer = fakeChatCompletion(
    ctx.request.body as ChatBody,
    ctx.state.llmLimit?.estimate.inputTokens ?? 0,
  )
  if (answer.kind === 'json') ctx.body = answer.body
  else {
    ctx.type = 'text/event-stream'
    ctx.body = Readable.from(answer.events)
  }
})
app.listen(port, '127.0.0.1', () =>
  console.log(`llm-limit Koa proxy on http://127.0.0.1:${port}/v1 (offline, fake upstream)`),
)
