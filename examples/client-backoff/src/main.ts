import { createServer as createHttp } from 'node:http'
import type { AddressInfo } from 'node:net'
import { backoffFetch, UpstreamQuotaError, upstreamGuard } from '@llm-limit/client'
import OpenAI from 'openai'

// A local upstream that rate-limits the first call, as a provider would.
let calls = 0
const upstream = createHttp((req, res) => {
  req.resume()
  req.on('end', () => {
    if (req.url?.startsWith('/daily/')) return answerDaily(res)
    calls++
    if (calls === 1) {
      res.writeHead(429, {
        'content-type': 'application/json',
        'retry-after': '1',
        'x-ratelimit-remaining-requests': '0',
      })
      res.end(
        JSON.stringify({
          error: {
            message: 'Rate limit reached',
            type: 'requests',
            param: null,
            code: 'rate_limit_exceeded',
          },
        }),
      )
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify({
        id: 'c1',
        object: 'chat.completion',
        created: 0,
        model: 'gpt-4o-mini',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'Hello after backing off!' },
            finish_reason: 'stop',
          },
        ],
        usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
      }),
    )
  })
})
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
const { port } = upstream.address() as AddressInfo

const openai = new OpenAI({
  apiKey: 'sk-local',
  baseURL: `http://127.0.0.1:${port}/v1`,
  maxRetries: 0,
  fetch: backoffFetch({
    onRetry: ({ attempt, delayMs, status }) =>
      console.log(`retry ${attempt}: status ${status}, waiting ${delayMs} ms as the server asked`),
  }),
})
const started = Date.now()
const completion = await openai.chat.completions.create({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Hi' }],
})
console.log(
  `answer: ${completion.choices[0].message.content} (after ${Date.now() - started} ms, ${calls} upstream calls)`,
)

// A Groq-style daily request quota, spent: the guard refuses the next call at once, with the
// reset time, instead of sleeping for hours or sending a call that is certain to get a 429.
function answerDaily(res: import('node:http').ServerResponse) {
  res.writeHead(200, {
    'content-type': 'application/json',
    'x-ratelimit-limit-requests': '14400',
    'x-ratelimit-remaining-requests': '0',
    'x-ratelimit-reset-requests': '2m59.56s',
  })
  res.end(
    JSON.stringify({
      id: 'c2',
      object: 'chat.completion',
      created: 0,
      model: 'llama-3.1-8b-instant',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
    }),
  )
}

const guard = upstreamGuard({ maxWaitMs: 60_000 })
const daily = new OpenAI({
  apiKey: 'sk-local',
  baseURL: `http://127.0.0.1:${port}/daily/v1`,
  maxRetries: 0,
  fetch: guard.fetch(backoffFetch({ maxRetryAfterMs: 60_000 })),
})
const ask = () =>
  daily.chat.completions.create({
    model: 'llama-3.1-8b-instant',
    messages: [{ role: 'user', content: 'Hi' }],
  })
await ask()
console.log('guard: first call answered; the daily request quota is now spent')
try {
  await ask()
} catch (error) {
  const refused = (error as { cause?: unknown }).cause ?? error
  if (!(refused instanceof UpstreamQuotaError)) throw error
  console.log(`guard: refused without sending (${refused.code}): ${refused.message}`)
}
upstream.close()
