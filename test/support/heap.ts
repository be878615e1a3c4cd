/** Heap bytes in use after full collections, so a test measures what is kept rather than garbage not yet collected. */
export function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc)
    throw new Error(
      'Run with --expose-gc (vitest.config.ts sets it) so heap growth is measured after a collection.',
    )
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
