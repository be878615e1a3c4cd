import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { Miniflare } from 'miniflare'

/** The settings of wrangler.jsonc that local workerd needs (comments stripped; no string holds `//`). */
interface WranglerConfig {
  main: string
  compatibility_date: string
  compatibility_flags?: string[]
  durable_objects?: { bindings: { name: string; class_name: string }[] }
}

const root = fileURLToPath(new URL('..', import.meta.url))
const config = JSON.parse(
  readFileSync(`${root}/wrangler.jsonc`, 'utf8').replace(/^\s*\/\/.*$/gm, ''),
) as WranglerConfig

// What wrangler does before it hands a Worker to workerd: one ES module, node:* left to nodejs_compat.
const bundle = await build({
  entryPoints: [`${root}/${config.main}`],
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  conditions: ['source', 'workerd', 'worker', 'import'],
  mainFields: ['module', 'main'],
  external: ['node:*', 'cloudflare:*'],
  logLevel: 'error',
})

const port = Number(process.env.PORT ?? 8793)
const mf = new Miniflare({
  modules: true,
  script: bundle.outputFiles[0].text,
  compatibilityDate: config.compatibility_date,
  compatibilityFlags: config.compatibility_flags,
  durableObjects: Object.fromEntries(
    (config.durable_objects?.bindings ?? []).map((binding) => [binding.name, binding.class_name]),
  ),
  host: '127.0.0.1',
  port,
})
const url = await mf.ready
console.log(`llm-limit on Cloudflare Workers (local workerd): ${url.origin}/v1 (offline, fake upstream)`)
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void mf.dispose().then(() => process.exit(0)))
