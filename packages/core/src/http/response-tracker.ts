import { type Decision, LimitDecision } from '../engine/decision.js'
import type { Limiter } from '../engine/limiter.js'
import { createUsageSniffer, type UsageSniffer } from '../llm/usage-sniffer.js'
import type { Usage } from '../types.js'
import { UsageChunkFilter } from './usage-chunk-filter.js'

/**
 * Watches one response and settles its decision exactly once, charging what the provider bills:
 * the usage a response reports (JSON, or the usage-carrying end of a stream) on success; a release
 * on an error status without usage; and on a client abort, a handler failure or a cut stream the
 * input estimate plus every output token streamed. A handler that called `commit()` itself wins.
 */
export class ResponseTracker {
  private sniffer: UsageSniffer | undefined
  private status = 200
  private done = false
  private textError = false
  /** Removes the usage-only chunk llm-limit asked for, when the client did not (see `stripUsageChunk`). */
  filter: UsageChunkFilter | undefined

  constructor(
    private readonly decision: Decision,
    private readonly limiter: Limiter,
    stripUsageChunk = false,
  ) {
    if (stripUsageChunk) this.filter = new UsageChunkFilter()
  }

  /**
   * Called once when the status and headers are known. `fixedLength`: a `Content-Length` went out
   * that the body must match, so nothing can be taken out of it.
   */
  headers(
    status: number,
    contentType: string | undefined,
    contentEncoding?: string,
    fixedLength = false,
  ): void {
    this.status = status
    const type = contentType?.toLowerCase() ?? ''
    // Providers answer errors in JSON; an HTML or text 5xx is the app's own failure page.
    this.textError = status >= 500 && !type.includes('json') && !type.includes('event-stream')
    const stream = type.includes('event-stream')
    // Only an unencoded event stream of the status the client expects, with no length it must
    // keep, can be edited chunk by chunk.
    const encoded = (contentEncoding ?? 'identity') !== 'identity'
    if (this.filter !== undefined && (!stream || status >= 400 || encoded || fixedLength))
      this.filter = undefined
    if (this.decision.settled) return
    const model = this.decision.model
    const estimator = this.limiter.estimator
    this.sniffer = createUsageSniffer(contentType, {
      countText: (text) => estimator.countText(text, model ?? 'gpt-4o'),
    })
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
    const usage = this.sniffer?.end()
    if (usage !== undefined) {
      inBackground(this.decision.commit(usage))
      return
    }
    if (this.status >= 400) {
      // An error answer without usage was not billed, unless the handler failed after the call began.
      if (this.textError) this.chargeCut()
      else inBackground(this.decision.release())
      return
    }
    if (this.sniffer?.cut()) {
      // The stream stopped before its closing event: the upstream dropped it, so bill what came.
      this.chargeCut()
      return
    }
    // Without reported usage the estimate stands: committing nothing keeps the reservation.
    inBackground(this.decision.commit())
  }

  /** The handler failed (threw, or its error page went out): like an abort, the call may have been billed. */
  fail(): void {
    this.abort()
  }

  /**
   * The client went away, the handler failed or the stream was cut: the prompt may have reached the
   * provider, which bills its input and every token it streamed, so both are charged.
   */
  abort(): void {
    if (this.done) return
    this.done = true
    if (!this.decision.settled) this.chargeCut()
  }

  /**
   * Charges a call cut short: a streamed one its input (as the provider reported it, else the
   * estimate) plus the output streamed, since the provider stops when the stream is cancelled; a
   * call answered in one piece keeps its reservation, since the provider generates and bills the
   * whole answer before anything is sent.
   */
  private chargeCut(): void {
    const llm = this.decision.llm
    if (llm === undefined) {
      inBackground(this.decision.release())
      return
    }
    if (!llm.stream) {
      inBackground(this.decision.commit())
      return
    }
    const streamed = this.sniffer?.streamed()
    const usage: Partial<Usage> = {
      inputTokens: streamed?.inputTokens ?? this.decision.estimate.inputTokens,
      outputTokens: streamed?.outputTokens ?? 0,
    }
    inBackground(this.decision.commit(usage))
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

/**
 * A tracker when the decision holds something to settle (tokens, dollars or a lease), else
 * undefined. `stripUsageChunk`: llm-limit added `stream_options.include_usage` itself, so the
 * usage-only chunk is taken out of what the client receives.
 */
export function trackResponse(
  decision: Decision,
  limiter: Limiter,
  stripUsageChunk = false,
): ResponseTracker | undefined {
  if (!(decision instanceof LimitDecision) || !decision.needsSettlement) return undefined
  return new ResponseTracker(decision, limiter, stripUsageChunk)
}
