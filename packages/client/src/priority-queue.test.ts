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

describe('priorityQueue with tasks that misbehave', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('1,000 tasks that throw synchronously, reject, return plain values or resolve: each caller gets its own outcome, concurrency holds, nothing escapes', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      const concurrency = 8
      const queue = priorityQueue({ concurrency, maxSize: 2000 })
      let active = 0
      let peak = 0
      const track = async <T>(ms: number, settle: () => T): Promise<T> => {
        active++
        peak = Math.max(peak, active)
        try {
          await new Promise((resolve) => setTimeout(resolve, ms))
          return settle()
        } finally {
          active--
        }
      }
      const priorities = ['critical', 'high', 'normal', 'low'] as const
      const calls = Array.from({ length: 1000 }, (_, i) => {
        const priority = priorities[(i >> 2) % 4]
        switch (i % 4) {
          case 0:
            return queue.add((): number => {
              throw new Error(`sync ${i}`)
            }, priority)
          case 1:
            return queue.add(
              () =>
                track(1 + (i % 7), () => {
                  throw new Error(`async ${i}`)
                }),
              priority,
            )
          case 2:
            return queue.add(() => i, priority)
          default:
            return queue.add(() => track(1 + (i % 5), () => i), priority)
        }
      })
      const settled = Promise.allSettled(calls)
      await vi.advanceTimersByTimeAsync(10_000)
      const results = await settled
      results.forEach((result, i) => {
        if (i % 4 === 0 || i % 4 === 1) {
          expect(result.status).toBe('rejected')
          expect((result as PromiseRejectedResult).reason.message).toBe(
            `${i % 4 === 0 ? 'sync' : 'async'} ${i}`,
          )
        } else {
          expect(result).toEqual({ status: 'fulfilled', value: i })
        }
      })
      expect(peak).toBe(concurrency)
      expect(queue.running).toBe(0)
      expect(queue.depth()).toEqual({ critical: 0, high: 0, normal: 0, low: 0 })
      // The queue still works afterwards.
      const after = queue.add(() => 'still alive')
      await vi.advanceTimersByTimeAsync(1)
      expect(await after).toBe('still alive')
      // Give any escaped rejection a turn to be reported.
      vi.useRealTimers()
      await new Promise((resolve) => setImmediate(resolve))
      await new Promise((resolve) => setImmediate(resolve))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('a task that is not a function is a clear error, not a wedged slot', async () => {
    const queue = priorityQueue({ concurrency: 1 })
    await expect(queue.add(42 as never)).rejects.toMatchObject({ code: 'ERR_CONFIG' })
    expect(await queue.add(() => 'next')).toBe('next')
  })
})
