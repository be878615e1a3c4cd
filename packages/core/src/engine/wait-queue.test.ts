import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { memoryStore } from '../store/memory-store.js'
import type { LimitRequest } from '../types.js'
import type { Decision } from './decision.js'
import { createLimiter } from './limiter.js'
import type { QueueOptions } from './options.js'

const request = (plan: string, id: string): LimitRequest => ({
  method: 'GET',
  path: '/',
  headers: { 'x-plan': plan, 'x-id': id },
  ip: '10.0.0.1',
})

function setup(queue: QueueOptions) {
  const limiter = createLimiter({
    store: memoryStore({ now: () => Date.now() }),
    rules: [{ name: 'one-per-second', by: 'global', requests: 1, per: '1s' }],
    plans: { crit: { priority: 'critical' }, norm: { priority: 'normal' }, low: { priority: 'low' } },
    // The application's own trusted resolver; in a test, a header stands in for a verified claim.
    plan: (_identity, req) => req.headers['x-plan'] as string,
    queue,
  })
  const order: string[] = []
  const outcomes = new Map<string, { decision: Decision; waitedMs: number }>()
  const send = (plan: string, id: string) => {
    const started = Date.now()
    return limiter.check(request(plan, id)).then((decision) => {
      outcomes.set(id, { decision, waitedMs: Date.now() - started })
      if (decision.allowed) order.push(id)
      return decision
    })
  }
  return { limiter, order, outcomes, send }
}

describe('queueing', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    vi.setSystemTime(Date.UTC(2026, 0, 1))
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('admits waiting requests FIFO within a priority', async () => {
    const { order, send, limiter } = setup({ maxWaitMs: 10_000 })
    await send('norm', 'first')
    const waiting = ['a', 'b', 'c', 'd'].map((id) => send('norm', id))
    await vi.advanceTimersByTimeAsync(0)
    expect(limiter.queueDepth().normal).toBe(4)
    await vi.advanceTimersByTimeAsync(5000)
    await Promise.all(waiting)
    expect(order).toEqual(['first', 'a', 'b', 'c', 'd'])
    expect(limiter.queueDepth().normal).toBe(0)
  })

  it('serves higher priorities first', async () => {
    const { order, send } = setup({ maxWaitMs: 10_000 })
    await send('norm', 'first')
    const waiting = [
      send('low', 'low-1'),
      send('low', 'low-2'),
      send('norm', 'norm-1'),
      send('crit', 'crit-1'),
    ]
    await vi.advanceTimersByTimeAsync(6000)
    await Promise.all(waiting)
    expect(order).toEqual(['first', 'crit-1', 'norm-1', 'low-1', 'low-2'])
  })

  it('drops the lowest priority first when the queue is full', async () => {
    const { order, outcomes, send, limiter } = setup({ maxWaitMs: 10_000, maxSize: 2 })
    await send('norm', 'first')
    const waiting = [
      send('low', 'low-1'),
      send('low', 'low-2'),
      send('norm', 'norm-1'),
      send('crit', 'crit-1'),
    ]
    await vi.advanceTimersByTimeAsync(0)
    // norm-1 pushed out low-2 (the newest low); crit-1 then pushed out low-1.
    expect(outcomes.get('low-2')?.decision.allowed).toBe(false)
    expect(outcomes.get('low-1')?.decision.allowed).toBe(false)
    expect(limiter.queueDepth()).toEqual({ critical: 1, high: 0, normal: 1, low: 0 })
    await vi.advanceTimersByTimeAsync(5000)
    await Promise.all(waiting)
    expect(order).toEqual(['first', 'crit-1', 'norm-1'])
  })

  it('refuses a newcomer whose priority is the lowest waiting when the queue is full', async () => {
    const { outcomes, send } = setup({ maxWaitMs: 10_000, maxSize: 1 })
    await send('norm', 'first')
    void send('norm', 'waiting')
    await send('low', 'late')
    expect(outcomes.get('late')?.decision.allowed).toBe(false)
    expect(outcomes.get('waiting')).toBeUndefined()
  })

  it('never keeps a request waiting longer than maxWaitMs', async () => {
    const { outcomes, send } = setup({ maxWaitMs: 2500 })
    await send('norm', 'first')
    const ids = ['a', 'b', 'c', 'd', 'e', 'f']
    const waiting = ids.map((id) => send('norm', id))
    await vi.advanceTimersByTimeAsync(10_000)
    await Promise.all(waiting)
    for (const id of ids) expect(outcomes.get(id)?.waitedMs).toBeLessThanOrEqual(2500)
    expect(ids.filter((id) => outcomes.get(id)?.decision.allowed)).toEqual(['a', 'b'])
  })

  it('does not queue a wait longer than maxWaitMs at all', async () => {
    const { outcomes, send } = setup({ maxWaitMs: 100 })
    await send('norm', 'first')
    await send('norm', 'second')
    expect(outcomes.get('second')?.waitedMs).toBe(0)
    expect(outcomes.get('second')?.decision.status).toBe(429)
  })
})
