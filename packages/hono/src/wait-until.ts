import type { Decision, ResponseTracker } from '@llm-limit/core'
import type { Context } from 'hono'

/** The part of Workers' `ExecutionContext` this needs. */
interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void
}

function executionContext(c: Context): WaitUntil | undefined {
  try {
    // Hono's getter throws where the runtime passed no execution context (Node, Bun, Deno).
    const context = c.executionCtx as Partial<WaitUntil> | undefined
    return typeof context?.waitUntil === 'function' ? (context as WaitUntil) : undefined
  } catch {
    return undefined
  }
}

/**
 * On Cloudflare Workers, keeps the isolate alive until the decision is settled: a streamed answer
 * outlives the handler, and the commit (a Durable Object call) runs after the last chunk, when
 * the runtime would otherwise cancel it. Elsewhere background work runs on by itself; nothing to do.
 */
export function settleBeforeExit(c: Context, decision: Decision, tracker: ResponseTracker): void {
  const context = executionContext(c)
  if (context === undefined) return
  const { finish, abort } = tracker
  let settled: (settling: Promise<void>) => void = () => {}
  context.waitUntil(
    new Promise<void>((resolve) => {
      settled = (settling) => settling.then(resolve, resolve)
    }),
  )
  // Once the tracker has ended the response, the decision holds its settlement; release() returns
  // that same promise (it is idempotent) rather than starting another.
  tracker.finish = () => {
    finish.call(tracker)
    settled(decision.release())
  }
  tracker.abort = () => {
    abort.call(tracker)
    settled(decision.release())
  }
  // workerd neither cancels nor errors a response body whose client hung up; it drops the pending
  // reads. With the `enable_request_signal` flag the request's signal tells instead (after a
  // finished response, abort() does nothing).
  c.req.raw.signal?.addEventListener('abort', () => tracker.abort(), { once: true })
}
