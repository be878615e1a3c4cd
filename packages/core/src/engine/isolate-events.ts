import type { LimiterEvents } from './options.js'

type Hook = keyof LimiterEvents
const HOOKS: readonly Hook[] = [
  'onDecision',
  'onDeny',
  'onCommit',
  'onStoreError',
  'onLimitError',
  'onThreshold',
]

/**
 * The user's event hooks, each behind a try/catch. The hooks observe. One that throws is logged,
 * once per hook, and never fails a decision. Nor does it crash the process from a response's
 * `finish` handler, where settling runs.
 */
export function isolateEvents(events: LimiterEvents): LimiterEvents {
  const isolated: LimiterEvents = {}
  const logged = new Set<Hook>()
  for (const hook of HOOKS) {
    const handler = events[hook] as ((...args: unknown[]) => void) | undefined
    if (handler === undefined) continue
    const safe = (...args: unknown[]): void => {
      try {
        handler.apply(events, args)
      } catch (error) {
        if (logged.has(hook)) return
        logged.add(hook)
        console.error(
          `[llm-limit] EVENT_HANDLER_THREW: events.${hook} threw, and llm-limit carried on without it (logged once). Fix the handler:`,
          error,
        )
      }
    }
    Object.assign(isolated, { [hook]: safe })
  }
  return isolated
}
