import { createApp } from './app.js'

const port = Number(process.env.PORT ?? 8787)
const upstream = { url: process.env.UPSTREAM_URL, apiKey: process.env.OPENAI_API_KEY }
const { app } = createApp(upstream)

app.listen(port, '127.0.0.1', () => {
  const mode =
    upstream.url && upstream.apiKey ? `forwarding to ${upstream.url}` : 'offline, built-in fake upstream'
  console.log(`llm-limit demo proxy on http://127.0.0.1:${port}/v1 (${mode})`)
})
