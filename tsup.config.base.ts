import { defineConfig } from 'tsup'

/** The one build every package shares: ESM + CJS with their own d.ts, for Node 20. */
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
