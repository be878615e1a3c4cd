// Resolves `ioredis` to ioredis 6 (the `ioredis6` alias of test/package.json) in child processes the
// ioredis6 vitest project starts (the exactness workers): vitest sets NODE_OPTIONS=--import=<this file>.
import { register } from 'node:module'
import { isMainThread } from 'node:worker_threads'

const testDirectory = new URL('../', import.meta.url).href

/** Node resolve hook: `ioredis` and `ioredis/…` become `ioredis6` and `ioredis6/…`. */
export async function resolve(specifier, context, next) {
  if (specifier === 'ioredis' || specifier.startsWith('ioredis/'))
    return next(`ioredis6${specifier.slice('ioredis'.length)}`, { ...context, parentURL: testDirectory })
  return next(specifier, context)
}

// Registered from the main thread only: the hooks thread loads this same file to find `resolve`.
if (isMainThread) register(import.meta.url)
