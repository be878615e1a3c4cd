import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url))

export default defineConfig({
  resolve: {
    alias: {
      '@llm-limit/core': src('core'),
      '@llm-limit/redis': src('redis'),
      '@llm-limit/express': src('express'),
      '@llm-limit/koa': src('koa'),
      '@llm-limit/hono': src('hono'),
      '@llm-limit/client': src('client'),
      '@llm-limit/workers': src('workers'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Heap-growth tests force a collection before measuring.
    execArgv: ['--expose-gc'],
  },
})
