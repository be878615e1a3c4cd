import { createApp } from './app.js'

declare const Bun: {
  serve(options: { port: number; hostname: string; fetch: (request: Request, server: unknown) => unknown }): {
    port: number
  }
}
declare const process: { env: Record<string, string | undefined> }

// Bun passes its server as the second argument, which Hono exposes as c.env: llmLimit asks it for
// the peer address (server.requestIP).
const app = createApp()
const server = Bun.serve({ port: Number(process.env.PORT ?? 8791), hostname: '127.0.0.1', fetch: app.fetch })
console.log(`llm-limit on Bun: http://127.0.0.1:${server.port}/v1 (offline, fake upstream)`)
