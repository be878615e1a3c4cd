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

/** Heap bytes each of `count` values from `make` keeps alive, after full collections. */
export function bytesEach(make: () => unknown, count = 20_000): number {
  const before = heapUsed()
  const kept = Array.from({ length: count }, make)
  const after = heapUsed()
  if (kept.length !== count) throw new Error('Expected every value made to be kept.')
  return (after - before) / count
}
