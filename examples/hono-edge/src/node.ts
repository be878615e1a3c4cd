import { serve } from '@hono/node-server'
import { createApp } from './app.js'

const port = Number(process.env.PORT ?? 8790)
serve({ fetch: createApp().fetch, port, hostname: '127.0.0.1' }, () => {
  console.log(`llm-limit on Node.js: http://127.0.0.1:${port}/v1 (offline, fake upstream)`)
})
