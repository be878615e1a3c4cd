import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { priorityQueue } from './priority-queue.js'

const later =
  <T>(value: T, ms: number) =>
  () =>
    new Promise<T>((resolve) => setTimeout(() => resolve(value), ms))

describe('priorityQueue', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('runs FIFO within a priority and higher priorities first', async () => {
    const queue = priorityQueue({ concurrency: 1 })
    const order: string[] = []
    const add = (name: string, priority: 'critical' | 'high' | 'normal' | 'low') =>
      queue.add(async () => {
        order.push(name)
        await later(null, 10)()
      }, priority)
    const all = [
      add('first', 'normal'),
      add('low-1', 'low'),
      add('normal-1', 'normal'),
      add('low-2', 'low'),
      add('normal-2', 'normal'),
      add('critical-1', 'critical'),
      add('high-1', 'high'),
    ]
    expect(queue.depth()).toEqual({ critical: 1, high: 1, normal: 2, low: 2 })
    await vi.advanceTimersByTimeAsync(100)
    await Promise.all(all)
    expect(order).toEqual(['first', 'critical-1', 'high-1', 'normal-1', 'normal-2', 'low-1', 'low-2'])
  })

  it('drops the newest lowest-priority call first when full', async () => {
    const queue = priorityQueue({ concurrency: 1, maxSize: 2 })
    const running = queue.add(later('r', 100))
    const low1 = queue.add(later('l1', 1), 'low')
    const low2 = queue.add(later('l2', 1), 'low')
    const high = queue.add(later('h', 1), 'high')
    await expect(low2).rejects.toMatchObject({ code: 'ERR_QUEUE_FULL' })
    const normal = queue.add(later('n', 1), 'normal')
    await expect(low1).rejects.toMatchObject({ code: 'ERR_QUEUE_FULL' })
    await expect(queue.add(later('x', 1), 'low')).rejects.toMatchObject({ code: 'ERR_QUEUE_FULL' })
    await vi.advanceTimersByTimeAsync(200)
    expect(await Promise.all([running, high, normal])).toEqual(['r', 'h', 'n'])
  })

  it('applies a rate limit and a wait limit', async () => {
    const queue = priorityQueue({ concurrency: 10, perInterval: 2, intervalMs: 1000, maxWaitMs: 1500 })
    const started: number[] = []
    const t0 = Date.now()
    const jobs = Array.from({ length: 6 }, () =>
      queue.add(async () => {
        started.push(Date.now() - t0)
      }),
    )
    const settled = Promise.allSettled(jobs)
    await vi.advanceTimersByTimeAsync(5000)
    const results = await settled
    expect(started).toEqual([0, 0, 1000, 1000])
    expect(
      results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code),
    ).toEqual(['ERR_QUEUE_TIMEOUT', 'ERR_QUEUE_TIMEOUT'])
  })
})
