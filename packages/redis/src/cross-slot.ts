import type { ConsumeResult, StoreCheck, StoreCheckResult } from '@llm-limit/core'
import { type Batcher, HELD_BY_PENDING } from './batcher.js'
import { epochNow } from './connection.js'
import { hashTag, Mode, type StoreCore } from './store-core.js'
import { undoSettlement, unmark } from './undo.js'

/** The checks of a decision that share one hash slot (one identity), with their places in the decision. */
interface Slot {
  tag: string
  checks: StoreCheck[]
  indexes: number[]
}

function slotsOf(checks: readonly StoreCheck[]): Slot[] {
  const slots = new Map<string, Slot>()
  checks.forEach((check, index) => {
    const tag = hashTag(check.group)
    let slot = slots.get(tag)
    if (!slot) {
      slot = { tag, checks: [], indexes: [] }
      slots.set(tag, slot)
    }
    slot.checks.push(check)
    slot.indexes.push(index)
  })
  return [...slots.values()]
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Waits, for at most `timeoutMs` since `started`, while `attempt`'s answer is a denial caused only by other
 * decisions' pending charges: those are final or undone within a round trip or two, and a caller with room must not
 * be refused because of a charge that is about to be given back.
 */
export async function pastPending(
  attempt: () => Promise<ConsumeResult>,
  started: number,
  timeoutMs: number,
): Promise<ConsumeResult> {
  let wait = 1
  for (;;) {
    const answer = await attempt()
    if (!HELD_BY_PENDING.has(answer) || epochNow() - started >= timeoutMs) return answer
    await pause(wait)
    wait = Math.min(wait * 2, 16)
  }
}

/**
 * A decision whose checks live in several hash slots (Cluster, several identities): all-or-nothing without a
 * transaction across slots. Each slot charges tentatively (its charges are marked pending); when every slot admits,
 * the decision is final and the markers go; when one denies, each slot that admitted is undone exactly (its
 * request record says what it charged, the lease included). A slot denied only because of other decisions' pending
 * charges is tried again once those settle: first every slot at once, then, after a denial of that kind, slot by
 * slot in a fixed order, so two such decisions never wait on each other.
 */
export async function consumeAcrossSlots(
  core: StoreCore,
  batcher: Batcher,
  checks: readonly StoreCheck[],
  requestId: string,
): Promise<ConsumeResult> {
  const started = epochNow()
  const slots = slotsOf(checks)
  const answers: ConsumeResult[] = new Array(slots.length)
  const tentative = (s: number) =>
    batcher.consume(slots[s].checks, slots[s].tag, requestId, false, Mode.tentative)
  const undo = (s: number, kind: 'compensate' | 'void') =>
    core.settlements.submit(undoSettlement(core, slots[s].checks, slots[s].tag, requestId, kind))

  // Every slot at once: one round trip when all admit.
  const outcomes = await Promise.allSettled(slots.map((_, s) => tentative(s)))
  let failure: { reason: unknown } | undefined
  let pending = false
  outcomes.forEach((outcome, s) => {
    if (outcome.status === 'rejected') failure ??= { reason: outcome.reason }
    else {
      answers[s] = outcome.value
      if (HELD_BY_PENDING.has(outcome.value)) pending = true
    }
  })
  const admitted = slots.map((_, s) => s).filter((s) => answers[s]?.allowed === true)
  if (failure !== undefined) {
    // The caller is told the decision failed, so none of it may stay charged (the batcher voids the failed slots).
    for (const s of admitted) undo(s, 'void').catch(() => {})
    throw failure.reason
  }
  if (admitted.length === slots.length) return final(core, slots, answers, checks, requestId)
  const hard = slots.some((_, s) => !answers[s].allowed && !HELD_BY_PENDING.has(answers[s]))
  const undone = await Promise.allSettled(admitted.map((s) => undo(s, 'compensate')))
  // A compensation that did not land is kept and retried; the decision is not tried again meanwhile.
  if (hard || !pending || undone.some((outcome) => outcome.status === 'rejected'))
    return denial(core, slots, answers, checks, admitted)

  // Slot by slot in a fixed order: a decision waits only on decisions that hold slots later in the order.
  const order = slots.map((_, s) => s).sort((a, b) => (slots[a].tag < slots[b].tag ? -1 : 1))
  const held: number[] = []
  for (const s of order) {
    let answer: ConsumeResult
    try {
      answer = await pastPending(() => tentative(s), started, core.timeoutMs)
    } catch (error) {
      for (const h of held) undo(h, 'void').catch(() => {})
      throw error
    }
    answers[s] = answer
    if (!answer.allowed) {
      await Promise.allSettled(held.map((h) => undo(h, 'compensate')))
      return denial(core, slots, answers, checks, held)
    }
    held.push(s)
  }
  return final(core, slots, answers, checks, requestId)
}

/** Every slot admitted: the decision is final; its markers go (in the background; they also expire). */
function final(
  core: StoreCore,
  slots: Slot[],
  answers: ConsumeResult[],
  checks: readonly StoreCheck[],
  requestId: string,
): ConsumeResult {
  for (const slot of slots) unmark(core, slot.checks, requestId).catch(() => {})
  return merge(slots, answers, checks, true, [])
}

/** A denial across slots; slots that admitted and were undone report their amounts as given back. */
function denial(
  core: StoreCore,
  slots: Slot[],
  answers: ConsumeResult[],
  checks: readonly StoreCheck[],
  undone: number[],
): ConsumeResult {
  const held = answers.filter((answer) => answer !== undefined && HELD_BY_PENDING.has(answer))
  const hard = answers.some(
    (answer) => answer !== undefined && !answer.allowed && !HELD_BY_PENDING.has(answer),
  )
  // A slot refused only because of others' pending charges is not why the decision was denied when another slot
  // refused outright: the denial names the rule that is truly spent.
  const shown = hard
    ? answers.map((answer) =>
        answer !== undefined && HELD_BY_PENDING.has(answer)
          ? {
              ...answer,
              results: answer.results.map((r) => (r.allowed ? r : { ...r, allowed: true, retryAfterMs: 0 })),
            }
          : answer,
      )
    : answers
  const result = merge(slots, shown, checks, false, undone)
  if (core.denied && held.length === 0) core.denied.remember(checks, result)
  return result
}

function merge(
  slots: Slot[],
  answers: ConsumeResult[],
  checks: readonly StoreCheck[],
  allowed: boolean,
  undone: number[],
): ConsumeResult {
  const results: StoreCheckResult[] = new Array(checks.length)
  let now = 0
  slots.forEach((slot, s) => {
    const answer = answers[s]
    if (answer === undefined) return
    now = Math.max(now, answer.now)
    const back = undone.includes(s)
    slot.indexes.forEach((index, i) => {
      const r = answer.results[i]
      results[index] = back ? { ...r, remaining: r.remaining + slot.checks[i].cost } : r
    })
  })
  return { allowed, now: now || Date.now(), results }
}
