import { createApp } from './app.js'

const port = Number(process.env.PORT ?? 8787)
const upstream = {
  url: process.env.UPSTREAM_URL,
  apiKey: process.env.OPENAI_API_KEY,
  anthropicUrl: process.env.ANTHROPIC_BASE_URL,
  anthropicKey: process.env.ANTHROPIC_API_KEY,
}
const { app } = createApp(upstream)

app.listen(port, '127.0.0.1', () => {
  const openai = upstream.url && upstream.apiKey ? `forwarding to ${upstream.url}` : 'offline fake'
  const anthropic = upstream.anthropicKey
    ? `forwarding to ${upstream.anthropicUrl ?? 'api.anthropic.com'}`
    : 'offline fake'
  console.log(
    `llm-limit demo proxy on http://127.0.0.1:${port}/v1 (chat completions: ${openai}; messages: ${anthropic})`,
  )
})
