import { ClientError } from './errors.js'
import { functionOption, MAX_TIMER_MS, numberOption, optionsObject } from './options.js'

/** Call priorities, most important first. */
export type Priority = 'critical' | 'high' | 'normal' | 'low'

const ORDER: readonly Priority[] = ['critical', 'high', 'normal', 'low']

/** Options of `priorityQueue()`. */
export interface PriorityQueueOptions {
  /** Calls running at once. @default 4 */
  concurrency?: number
  /** Calls started per `intervalMs` (rate limit). @default unlimited */
  perInterval?: number
  /** Interval of the rate limit. @default 1000 */
  intervalMs?: number
  /** Most calls waiting in all. @default 1000 */
  maxSize?: number
  /** Most calls waiting per priority. @default maxSize */
  maxPerPriority?: Partial<Record<Priority, number>>
  /** Longest a call may wait before it is rejected with ERR_QUEUE_TIMEOUT. @default unlimited */
  maxWaitMs?: number
  /** Clock. @default Date.now */
  now?: () => number
}

/** A queue that runs calls by priority under a concurrency and rate limit. */
export interface PriorityQueue {
  /** Runs `task` when its turn comes; a synchronous throw or a plain value becomes the call's own result. */
  add<T>(task: () => T | PromiseLike<T>, priority?: Priority): Promise<T>
  /** Waiting calls by priority. */
  depth(): Record<Priority, number>
  /** Calls running now. */
  readonly running: number
}

interface Job {
  readonly run: () => void
  readonly reject: (error: ClientError) => void
  readonly timer: ReturnType<typeof setTimeout> | undefined
}

/**
 * Runs calls by priority: FIFO within a priority, higher priorities first, and under pressure the
 * newest call of the lowest priority is dropped first (ERR_QUEUE_FULL).
 * @example
 * const queue = priorityQueue({ concurrency: 8, perInterval: 50, intervalMs: 1000 })
 * await queue.add(() => openai.chat.completions.create(request), 'high')
 */
export function priorityQueue(given?: PriorityQueueOptions): PriorityQueue {
  const options = optionsObject(given, 'priorityQueue')
  // Zero running at once would queue every call forever.
  const concurrency = numberOption(options.concurrency, 4, 'concurrency', { min: 1, whole: true })
  const perInterval =
    options.perInterval === Number.POSITIVE_INFINITY
      ? options.perInterval
      : numberOption(options.perInterval, Number.POSITIVE_INFINITY, 'perInterval', { min: 1, whole: true })
  const intervalMs = numberOption(options.intervalMs, 1000, 'intervalMs', { min: 1, max: MAX_TIMER_MS })
  const maxSize = numberOption(options.maxSize, 1000, 'maxSize', { min: 1, whole: true })
  const limits = {} as Record<Priority, number>
  for (const priority of ORDER) {
    const option = `maxPerPriority.${priority}`
    limits[priority] = numberOption(options.maxPerPriority?.[priority], maxSize, option, { whole: true })
  }
  const caps = (priority: Priority) => limits[priority]
  numberOption(options.maxWaitMs, 0, 'maxWaitMs', { min: 1, max: MAX_TIMER_MS })
  const now = functionOption(options.now, 'now') ?? Date.now
  const waiting: Record<Priority, Job[]> = { critical: [], high: [], normal: [], low: [] }
  const starts: number[] = []
  let size = 0
  let running = 0
  let wake: ReturnType<typeof setTimeout> | undefined

  const remove = (job: Job) => {
    for (const priority of ORDER) {
      const index = waiting[priority].indexOf(job)
      if (index >= 0) {
        waiting[priority].splice(index, 1)
        size--
        return true
      }
    }
    return false
  }

  const pump = () => {
    while (running < concurrency && size > 0) {
      while (starts.length > 0 && starts[0] <= now() - intervalMs) starts.shift()
      if (starts.length >= perInterval) {
        if (!wake) {
          wake = setTimeout(
            () => {
              wake = undefined
              pump()
            },
            starts[0] + intervalMs - now(),
          )
        }
        return
      }
      const priority = ORDER.find((p) => waiting[p].length > 0) as Priority
      const job = waiting[priority].shift() as Job
      size--
      if (job.timer) clearTimeout(job.timer)
      starts.push(now())
      running++
      job.run()
    }
  }

  return {
    get running() {
      return running
    },
    depth: () => ({
      critical: waiting.critical.length,
      high: waiting.high.length,
      normal: waiting.normal.length,
      low: waiting.low.length,
    }),
    add<T>(task: () => T | PromiseLike<T>, priority: Priority = 'normal') {
      return new Promise<T>((resolve, reject) => {
        if (typeof task !== 'function')
          throw new ClientError('ERR_CONFIG', `Expected the task to be a function, got ${typeof task}.`)
        if (!ORDER.includes(priority))
          throw new ClientError('ERR_CONFIG', `Unknown priority '${priority}'; use ${ORDER.join(', ')}.`)
        if (waiting[priority].length >= caps(priority)) {
          reject(
            new ClientError(
              'ERR_QUEUE_FULL',
              `The ${priority} queue is full (${caps(priority)} waiting); retry later.`,
            ),
          )
          return
        }
        if (size >= maxSize) {
          // Drop the newest call of the lowest priority below this one, if any.
          const lower = [...ORDER]
            .reverse()
            .find((p) => ORDER.indexOf(p) > ORDER.indexOf(priority) && waiting[p].length > 0)
          if (!lower) {
            reject(
              new ClientError(
                'ERR_QUEUE_FULL',
                `The queue is full (${maxSize} waiting) with calls of equal or higher priority; retry later.`,
              ),
            )
            return
          }
          const dropped = waiting[lower].pop() as Job
          size--
          if (dropped.timer) clearTimeout(dropped.timer)
          dropped.reject(
            new ClientError(
              'ERR_QUEUE_FULL',
              `Dropped from the ${lower} queue to make room for a ${priority} call.`,
            ),
          )
        }
        const job: Job = {
          run: () => {
            // A task may throw before it returns, or return a plain value: both become its result.
            let outcome: Promise<T>
            try {
              outcome = Promise.resolve(task())
            } catch (error) {
              outcome = Promise.reject(error)
            }
            outcome.then(resolve, reject).finally(() => {
              running--
              pump()
            })
          },
          reject,
          timer:
            options.maxWaitMs === undefined
              ? undefined
              : setTimeout(() => {
                  if (remove(job))
                    reject(
                      new ClientError(
                        'ERR_QUEUE_TIMEOUT',
                        `Waited ${options.maxWaitMs} ms in the queue without a turn.`,
                      ),
                    )
                }, options.maxWaitMs),
        }
        waiting[priority].push(job)
        size++
        pump()
      })
    },
  }
}
