// A server for `pnpm bench http-compare`: `tsx compare-server.ts <framework> <port> [<checkout>]`.
// With a checkout (a git worktree whose packages are built), the app runs that checkout's adapter from
// its dist, which loads that checkout's core; without one, the bare framework. The framework itself
// and everything else in the process come from this bench, so two checkouts differ only in llm-limit.
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { expressApp, honoApp, koaApp, type Listen, reportSamples, rules } from './apps.js'

const [framework, portText, checkout] = process.argv.slice(2)
const apps: Record<string, (middleware?: never) => Listen> = {
  express: expressApp,
  koa: koaApp,
  hono: honoApp,
}
const app = apps[framework]
if (!app)
  throw new Error(`Unknown framework '${framework}'; expected one of ${Object.keys(apps).join(', ')}.`)

let middleware: unknown
if (checkout) {
  const entry = pathToFileURL(join(checkout, 'packages', framework, 'dist', 'index.js')).href
  const adapter = (await import(entry)) as { llmLimit: (options: { rules: typeof rules }) => unknown }
  middleware = adapter.llmLimit({ rules })
}
reportSamples(app(middleware as never)(Number(portText)))
