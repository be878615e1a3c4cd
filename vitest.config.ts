import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { configDefaults, defineConfig } from 'vitest/config'

const src = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url))
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

/** The suites that talk to Redis through ioredis: they run once per supported ioredis major. */
const redisSuites = ['test/redis-*.test.ts', 'test/store-contract.test.ts', 'test/ioredis-major.test.ts']

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
      '@llm-limit/testing': src('testing'),
    },
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Heap-growth tests force a collection before measuring.
    execArgv: ['--expose-gc'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
          // The downstream fixture is a project of its own, run (and expected to fail in part) by test/downstream.
          exclude: [...configDefaults.exclude, 'test/downstream/fixture/**'],
          env: { LLM_LIMIT_IOREDIS_MAJOR: '5' },
        },
      },
      {
        // The Redis suites again, with `ioredis` resolved to ioredis 6 (in this process and in the
        // worker processes the exactness suite starts).
        extends: true,
        resolve: { alias: { ioredis: realpathSync(here('./test/node_modules/ioredis6')) } },
        test: {
          name: 'ioredis6',
          include: redisSuites,
          env: {
            LLM_LIMIT_IOREDIS_MAJOR: '6',
            NODE_OPTIONS: `--import=${here('./test/support/ioredis6-hook.mjs')}`,
          },
        },
      },
    ],
  },
})
