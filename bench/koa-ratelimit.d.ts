// koa-ratelimit ships no types; this is the part the benchmark uses.
declare module 'koa-ratelimit' {
  import type { Context, Middleware } from 'koa'
  export default function ratelimit(options: {
    driver: 'memory' | 'redis'
    db: Map<string, unknown> | object
    duration: number
    max: number
    id: (ctx: Context) => string
  }): Middleware
}
