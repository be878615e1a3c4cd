import type { Store } from '../store/store.js'

/**
 * A view of `store` whose `consume`, `consumeSync` and `adjust` report how long each call took
 * (`stop(operation, seconds)`), whether it returned, resolved, rejected or threw.
 */
export function timedStore<S extends Store>(store: S, stop: (operation: string, seconds: number) => void): S {
  const timed =
    <A extends unknown[], R>(operation: string, call: (...args: A) => R) =>
    (...args: A): R => {
      const start = performance.now()
      const done = () => stop(operation, (performance.now() - start) / 1000)
      try {
        const result = call(...args)
        if (result instanceof Promise) result.then(done, done)
        else done()
        return result
      } catch (error) {
        done()
        throw error
      }
    }
  const wrapped = Object.create(store) as S
  Object.assign(wrapped, {
    consume: timed('consume', store.consume.bind(store)),
    adjust: timed('adjust', store.adjust.bind(store)),
  })
  if (store.consumeSync)
    Object.assign(wrapped, { consumeSync: timed('consume', store.consumeSync.bind(store)) })
  return wrapped
}
