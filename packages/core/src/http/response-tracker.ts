import { type Decision, LimitDecision } from '../engine/decision.js'
import type { Limiter } from '../engine/limiter.js'
import { createUsageSniffer, type UsageSniffer } from '../llm/index.js'

/**
 * Watches one response and settles its decision exactly once: actual usage from the response
 * (JSON or server-sent events) on success, a release on an error status, and on a client abort
 * only what was already streamed. A handler that called `commit()` itself wins.
 */
export class ResponseTracker {
  private sniffer: UsageSniffer | undefined
  private status = 200
  private done = false

  constructor(
    private readonly decision: Decision,
    private readonly limiter: Limiter,
  ) {}

  /** Called once when the status and headers are known. */
  headers(status: number, contentType: string | undefined): void {
    this.status = status
    const model = this.decision.model
    if (this.decision.llm !== undefined && status < 400 && model !== undefined) {
      const estimator = this.limiter.estimator
      this.sniffer = createUsageSniffer(contentType, {
        countText: (text) => estimator.countText(text, model),
      })
    }
  }

  /** Called with every body chunk written. */
  chunk(data: Uint8Array | string): void {
    this.sniffer?.write(data)
  }

  /** The whole response was sent. */
  finish(): void {
    if (this.done) return
    this.done = true
    if (this.decision.settled) return
    if (this.status >= 400) {
      inBackground(this.decision.release())
      return
    }
    const usage = this.sniffer?.end()
    // Without reported usage the estimate stands: committing nothing keeps the reservation.
    inBackground(this.decision.commit(usage))
  }

  /** The client went away or the handler failed before the response completed. */
  abort(): void {
    if (this.done) return
    this.done = true
    if (this.decision.settled) return
    const streamed = this.sniffer?.streamed()
    if (streamed && streamed.outputTokens > 0) {
      // The prompt reached the provider even though the answer was cut short.
      const inputTokens = streamed.inputTokens || this.decision.estimate.inputTokens
      inBackground(this.decision.commit({ inputTokens, outputTokens: streamed.outputTokens }))
    } else inBackground(this.decision.release())
  }
}

/**
 * Settles after the response, where nobody awaits: a failure is logged, never an unhandled
 * rejection (which ends a Node process).
 */
function inBackground(settling: Promise<void>): void {
  settling.catch((error: unknown) =>
    console.error('[llm-limit] Settling a decision after its response failed:', error),
  )
}

/** A tracker when the decision holds something to settle (tokens, dollars or a lease), else undefined. */
export function trackResponse(decision: Decision, limiter: Limiter): ResponseTracker | undefined {
  if (!(decision instanceof LimitDecision) || !decision.needsSettlement) return undefined
  return new ResponseTracker(decision, limiter)
}
