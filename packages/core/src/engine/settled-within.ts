/** What one limit function gave: its value, or why there is none. */
export interface Outcome {
  value?: unknown
  error?: unknown
}

/** A limit function that did not answer within `limitResolver.timeoutMs`. */
export class LimitTimeoutError extends Error {
  readonly code = 'ERR_LIMIT_TIMEOUT'
  constructor(timeoutMs: number) {
    super(
      `A limit function did not answer within ${timeoutMs} ms (limitResolver.timeoutMs); its rule's fallback applied. Make it faster or cache its source.`,
    )
    this.name = 'LimitTimeoutError'
  }
}

/** True for promises and other thenables. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function'
  )
}

/** The values, each one settled or failed by `timeoutMs`; never rejects. */
export function settledWithin(values: readonly unknown[], timeoutMs: number): Promise<Outcome[]> {
  return new Promise((done) => {
    const outcomes: (Outcome | undefined)[] = values.map((value) =>
      isThenable(value) ? undefined : { value },
    )
    let left = outcomes.filter((outcome) => outcome === undefined).length
    const timer = setTimeout(() => {
      const error = new LimitTimeoutError(timeoutMs)
      done(outcomes.map((outcome) => outcome ?? { error }))
    }, timeoutMs)
    values.forEach((value, i) => {
      if (!isThenable(value)) return
      Promise.resolve(value).then(
        (resolved) => {
          outcomes[i] = { value: resolved }
          if (--left === 0) {
            clearTimeout(timer)
            done(outcomes as Outcome[])
          }
        },
        (error: unknown) => {
          outcomes[i] = { error: error ?? new Error('The limit function rejected without a reason.') }
          if (--left === 0) {
            clearTimeout(timer)
            done(outcomes as Outcome[])
          }
        },
      )
    })
  })
}
