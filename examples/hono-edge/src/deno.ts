import { createApp } from './app.js'

declare const Deno: {
  env: { get(name: string): string | undefined }
  serve(
    options: { port: number; hostname: string; onListen?: (address: { port: number }) => void },
    handler: (request: Request, info: unknown) => Response | Promise<Response>,
  ): unknown
}

// Deno.serve's second argument carries remoteAddr; passed on, Hono exposes it as c.env.
const app = createApp()
Deno.serve(
  {
    port: Number(Deno.env.get('PORT') ?? 8792),
    hostname: '127.0.0.1',
    onListen: ({ port }) =>
      console.log(`llm-limit on Deno: http://127.0.0.1:${port}/v1 (offline, fake upstream)`),
  },
  (request, info) => app.fetch(request, info),
)
