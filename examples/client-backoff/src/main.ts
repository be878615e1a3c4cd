import { createServer as createHttp } from 'node:http'
import type { AddressInfo } from 'node:net'
import { backoffFetch } from '@llm-limit/client'
import OpenAI from 'openai'

// A local upstream that rate-limits the first call, as a provider would.
let calls = 0
const upstream = createHttp((req, res) => {
  req.resume()
  req.on('end', () => {
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
upstream.close()
