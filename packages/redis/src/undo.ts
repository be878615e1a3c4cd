import type { StoreCheck } from '@llm-limit/core'
import type { Settlement } from './settlement-queue.js'
import { ALGORITHM_CODES, calendarCode, keyOf, recordsOf, type StoreCore } from './store-core.js'

/** How an undo treats the decision's id afterwards: forget it (the decision may be tried again) or refuse it for good. */
export type UndoKind = 'compensate' | 'void'

/**
 * A settlement that takes back exactly what one decision charged in one slot (see UNDO_LUA): the request record
 * tells whether and when it was charged, so an undo of a decision never applied, or undone before, does nothing.
 */
export function undoSettlement(
  core: StoreCore,
  checks: readonly StoreCheck[],
  tag: string,
  requestId: string,
  kind: UndoKind,
): Settlement {
  const args: (string | number)[] = checks.map((check) => keyOf(core.prefix, check))
  args.push(
    recordsOf(core.prefix, tag),
    core.idempotencyMs,
    requestId,
    kind === 'compensate' ? 1 : 2,
    checks.length,
  )
  for (const check of checks)
    args.push(ALGORITHM_CODES[check.algorithm], check.limit, check.windowMs, calendarCode(check), check.cost)
  return {
    // The record that makes an undo exact lives at least idempotencyMs.
    mootAfterMs: core.idempotencyMs * 0.9,
    send: () => core.call(() => core.scripted.llmLimitUndo(checks.length + 1, ...args)),
  }
}

/** Drops a final decision's pending markers in one slot; markers expire on their own when this is lost. */
export function unmark(core: StoreCore, checks: readonly StoreCheck[], requestId: string): Promise<unknown> {
  const keys: string[] = []
  const members: string[] = []
  for (const check of checks) {
    if (check.cost <= 0) continue
    keys.push(`${keyOf(core.prefix, check)}:pend`)
    members.push(`${check.cost}|${requestId}`)
  }
  if (keys.length === 0) return Promise.resolve()
  return core.call(() => core.scripted.llmLimitUnmark(keys.length, ...keys, ...members))
}
