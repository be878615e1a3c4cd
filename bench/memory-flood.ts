// Floods through a memory store's maxKeys (100,000): `node --import tsx --expose-gc memory-flood.ts [a|b]`.
// (a) 1,000,000 new identities, one request each, after a caller spent its burst: is it still limited?
// (b) 200,000 identities limited for a day: check time (p50/p99) before the store fills and past it,
//     and how many of them get anything back when they all ask again.
import { createLimiter, type LimitRequest, memoryStore } from '@llm-limit/core'

const MAX_KEYS = 100_000
const gc = (globalThis as { gc?: () => void }).gc
const heapMb = () => {
  gc?.()
  return process.memoryUsage().heapUsed / 1e6
}
const ipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
const request = (ip: string): LimitRequest => ({ method: 'GET', path: '/v1/models', headers: {}, ip })
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]

async function burstFlood(): Promise<void> {
  const store = memoryStore({ maxKeys: MAX_KEYS })
  const limiter = createLimiter({ store, rules: [{ name: 'burst', by: 'ip', requests: 10, per: '1h' }] })
  const victim = request('192.168.0.1')
  let admitted = 0
  for (let i = 0; i < 20; i++) if ((await limiter.check(victim)).allowed) admitted++
  const before = heapMb()
  const started = performance.now()
  for (let i = 0; i < 1_000_000; i++) await limiter.check(request(ipOf(i)))
  const took = performance.now() - started
  const after = await limiter.check(victim)
  console.log(
    `(a) victim admitted ${admitted} of 20 before; 1,000,000 new identities in ${(took / 1000).toFixed(1)} s (${((took * 1000) / 1e6).toFixed(2)} µs a check); victim after: ${after.allowed ? 'ADMITTED (debt lost)' : `still limited, retry in ${Math.round(after.retryAfterMs / 1000)} s`}`,
  )
  console.log(
    `    store ${store.size.toLocaleString('en-US')} identities, debts ${JSON.stringify(store.forgotten)}; heap ${before.toFixed(0)} → ${heapMb().toFixed(0)} MB`,
  )
}

async function dailyFlood(): Promise<void> {
  const store = memoryStore({ maxKeys: MAX_KEYS })
  const limiter = createLimiter({
    store,
    rules: [{ name: 'daily', by: 'ip', requests: 1, per: '1d', algorithm: 'fixed-window' }],
  })
  const requests = Array.from({ length: 2 * MAX_KEYS }, (_, i) => request(ipOf(i)))
  const times: number[][] = [[], []]
  const heaps: number[] = [heapMb()]
  for (let i = 0; i < 2 * MAX_KEYS; i++) {
    const phase = i < MAX_KEYS ? 0 : 1
    // One admitted and one refused request each: every identity ends limited for the rest of the day.
    for (let j = 0; j < 2; j++) {
      const started = performance.now()
      await limiter.check(requests[i])
      times[phase].push(performance.now() - started)
    }
    if (i === MAX_KEYS - 1) heaps.push(heapMb())
  }
  heaps.push(heapMb())
  // The first 10,000 checks warm the compiler up; they are left out of "before".
  const [before, during] = [times[0].slice(20_000), times[1]]
  const us = (ms: number) => `${(ms * 1000).toFixed(2)} µs`
  const p99 = [percentile(before, 0.99), percentile(during, 0.99)]
  console.log(
    `(b) 200,000 identities limited for a day, maxKeys ${MAX_KEYS.toLocaleString('en-US')}: before the store fills p50 ${us(percentile(before, 0.5))} p99 ${us(p99[0])}; past it p50 ${us(percentile(during, 0.5))} p99 ${us(p99[1])} (${(p99[1] / p99[0]).toFixed(2)}× the p99 before, goal ≤ 2×)`,
  )
  const lostInFlood = store.forgotten.lost
  let regained = 0
  for (const each of requests) if ((await limiter.check(each)).allowed) regained++
  console.log(
    `    debts lost in the flood ${lostInFlood} of ${MAX_KEYS.toLocaleString('en-US')} forgotten; all 200,000 ask again: ${regained} admitted (bound: debts lost, ${store.forgotten.lost} by then); heap ${heaps.map((mb) => mb.toFixed(0)).join(' → ')} MB`,
  )
}

const only = process.argv[2]
if (only !== 'b') await burstFlood()
if (only !== 'a') await dailyFlood()
