import type { Usage } from '../types.js'
import { geminiChunk } from './gemini.js'
import { usageFromJson, usageFromObject } from './usage.js'

/** Watches a response body go by and finds the provider's usage in it. */
export interface UsageSniffer {
  /** Feeds the next chunk of the body. */
  write(chunk: Uint8Array | string): void
  /** The provider's final usage, once the body is complete; undefined when it reported none. */
  end(): Usage | undefined
  /**
   * What has streamed so far (for cut streams): input when the provider reported it, output counted
   * from every streamed delta (text, reasoning, tool-call arguments), at least one token a delta.
   */
  streamed(): StreamedUsage
  /** True when the body ended without its format's closing event (`[DONE]`, `message_stop`, a final `response.*`). */
  cut(): boolean
}

/** Usage seen in a stream that may have been cut: input only when the provider reported it. */
export interface StreamedUsage {
  /** Input tokens the provider reported (Anthropic `message_start`), else undefined. */
  inputTokens: number | undefined
  /** Output tokens streamed so far. */
  outputTokens: number
}

/** Options of `createUsageSniffer()`. */
export interface UsageSnifferOptions {
  /** Counts output text of an aborted stream. @default characters ÷ 4, rounded up */
  countText?: (text: string) => number
  /** Most JSON kept in memory; past it, only the tail is kept and the usage object is found there. @default 4 MiB */
  maxBufferBytes?: number
}

const TAIL = 64 * 1024
const MAX_EVENT = 1024 * 1024

/** A sniffer for a response of this content type: JSON, server-sent events, or nothing to find. */
export function createUsageSniffer(
  contentType: string | undefined,
  options: UsageSnifferOptions = {},
): UsageSniffer {
  const type = (contentType ?? '').toLowerCase()
  const countText = options.countText ?? ((text: string) => Math.ceil(text.length / 4))
  if (type.includes('text/event-stream')) return new SseSniffer(countText)
  if (type.includes('json')) return new JsonSniffer(options.maxBufferBytes ?? 4 * 1024 * 1024)
  return {
    write() {},
    end: () => undefined,
    streamed: () => ({ inputTokens: undefined, outputTokens: 0 }),
    cut: () => false,
  }
}

const decoder = () => new TextDecoder('utf-8', { fatal: false })

class JsonSniffer implements UsageSniffer {
  private readonly decode = decoder()
  private text = ''
  private overflowed = false

  constructor(private readonly maxBytes: number) {}

  write(chunk: Uint8Array | string): void {
    this.text += typeof chunk === 'string' ? chunk : this.decode.decode(chunk, { stream: true })
    if (this.text.length > this.maxBytes) {
      // Usage sits at the end of every provider's JSON; keep only the tail.
      this.overflowed = true
      this.text = this.text.slice(-TAIL)
    }
  }

  end(): Usage | undefined {
    if (!this.overflowed) {
      try {
        return usageFromJson(JSON.parse(this.text))
      } catch {
        return undefined
      }
    }
    const at = this.text.lastIndexOf('"usage"')
    const open = at < 0 ? -1 : this.text.indexOf('{', at)
    if (open < 0) return undefined
    let depth = 0
    for (let i = open; i < this.text.length; i++) {
      const char = this.text[i]
      if (char === '{') depth++
      else if (char === '}' && --depth === 0) {
        try {
          return usageFromObject(JSON.parse(this.text.slice(open, i + 1)))
        } catch {
          return undefined
        }
      }
    }
    return undefined
  }

  streamed(): StreamedUsage {
    return { inputTokens: undefined, outputTokens: 0 }
  }

  cut(): boolean {
    return false
  }
}

/** Parses server-sent events incrementally: any chunk boundary, CRLF, multi-line data, bounded memory. */
class SseSniffer implements UsageSniffer {
  private readonly decode = decoder()
  private buffer = ''
  private data: string[] = []
  private dataSize = 0
  private final: Usage | undefined
  private input: number | undefined
  private anthropicOutput: number | undefined
  /** Anthropic's message_start usage: its cache reads and 5m / 1h writes are billed at their own prices. */
  private anthropicStart: Usage | undefined
  private model: string | undefined
  private output = ''
  private outputTokens = 0
  private deltas = 0
  private closed = false

  constructor(private readonly countText: (text: string) => number) {}

  write(chunk: Uint8Array | string): void {
    this.buffer += typeof chunk === 'string' ? chunk : this.decode.decode(chunk, { stream: true })
    let newline = this.buffer.search(/\r\n|\r|\n/)
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline)
      const width = this.buffer.startsWith('\r\n', newline) ? 2 : 1
      this.buffer = this.buffer.slice(newline + width)
      this.line(line)
      newline = this.buffer.search(/\r\n|\r|\n/)
    }
    // A "line" that never ends is garbage; drop it rather than grow without bound.
    if (this.buffer.length > MAX_EVENT) this.buffer = ''
  }

  end(): Usage | undefined {
    if (this.data.length > 0) this.dispatch()
    if (this.final) return this.final
    if (this.input !== undefined && this.anthropicOutput !== undefined) {
      const usage: Usage = {
        ...this.anthropicStart,
        inputTokens: this.input,
        outputTokens: this.anthropicOutput,
      }
      if (this.model !== undefined) usage.model = this.model
      return usage
    }
    return undefined
  }

  streamed(): StreamedUsage {
    this.flushOutput()
    // A provider streams about one token a delta, so deltas bound the count from below.
    const counted = Math.max(this.outputTokens, this.deltas)
    // Usage reported so far counts too: Gemini chunks carry it (thoughts included) before the end.
    const reported = Math.max(this.anthropicOutput ?? 0, this.final?.outputTokens ?? 0)
    return { inputTokens: this.input ?? this.final?.inputTokens, outputTokens: Math.max(counted, reported) }
  }

  cut(): boolean {
    return !this.closed
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch()
      return
    }
    if (!line.startsWith('data:')) return
    const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5)
    this.dataSize += value.length
    if (this.dataSize > MAX_EVENT) return
    this.data.push(value)
  }

  private dispatch(): void {
    const payload = this.data.join('\n')
    this.data = []
    this.dataSize = 0
    if (payload === '[DONE]') this.closed = true
    if (payload === '' || payload[0] !== '{') return
    let event: Record<string, unknown>
    try {
      event = JSON.parse(payload)
    } catch {
      return
    }
    this.event(event)
  }

  private event(event: Record<string, unknown>): void {
    const type = event.type
    switch (type) {
      case 'message_start': {
        const message = event.message as Record<string, unknown> | undefined
        const usage = usageFromObject(message?.usage)
        if (usage) {
          this.input = usage.inputTokens
          this.anthropicOutput = usage.outputTokens
          this.anthropicStart = usage
        }
        if (typeof message?.model === 'string') this.model = message.model
        return
      }
      case 'message_delta': {
        const output = usageFromObject({
          output_tokens: (event.usage as Record<string, unknown> | undefined)?.output_tokens,
        })
        if (output) this.anthropicOutput = output.outputTokens
        return
      }
      case 'message_stop':
        this.closed = true
        return
      case 'content_block_delta': {
        // text_delta, thinking_delta and input_json_delta (tool arguments) are all billed output.
        const delta = event.delta as Record<string, unknown> | undefined
        const text = delta?.text ?? delta?.thinking ?? delta?.partial_json
        if (typeof text === 'string') this.append(text)
        return
      }
      case 'response.completed':
      case 'response.incomplete':
      case 'response.failed': {
        this.closed = true
        const usage = usageFromJson(event)
        if (usage) this.final = usage
        return
      }
    }
    // Gemini: every GenerateContentResponse chunk carries the usage so far; the last one is final.
    const gemini = event.candidates || event.usageMetadata ? geminiChunk(event) : undefined
    if (gemini) {
      this.final = gemini.usage ?? this.final
      this.append(gemini.text)
      return
    }
    if (typeof type === 'string') {
      // Responses API: output text, reasoning text and summaries, function-call arguments, refusals.
      if (type.endsWith('.delta') && typeof event.delta === 'string') this.append(event.delta)
      return
    }
    const usage = usageFromObject(event.usage)
    if (usage) {
      if (typeof event.model === 'string') usage.model = event.model
      this.final = usage
    }
    const choices = event.choices
    if (Array.isArray(choices)) {
      for (const choice of choices) this.choice(choice as Record<string, unknown> | null)
    }
  }

  /** An OpenAI chat or completions choice: content, reasoning, refusal and tool-call arguments. */
  private choice(choice: Record<string, unknown> | null): void {
    if (typeof choice?.text === 'string') this.append(choice.text)
    const delta = choice?.delta as Record<string, unknown> | undefined
    if (delta === undefined || delta === null) return
    for (const field of ['content', 'reasoning_content', 'reasoning', 'refusal'] as const) {
      const text = delta[field]
      if (typeof text === 'string') this.append(text)
    }
    const calls = delta.tool_calls
    if (!Array.isArray(calls)) return
    for (const call of calls) {
      const fn = (call as { function?: { name?: unknown; arguments?: unknown } } | null)?.function
      if (typeof fn?.name === 'string') this.append(fn.name)
      if (typeof fn?.arguments === 'string') this.append(fn.arguments)
    }
  }

  /** Streamed text is counted in batches so the sniffer's memory stays bounded. */
  private append(text: string): void {
    if (text === '') return
    this.deltas++
    this.output += text
    if (this.output.length > 16 * 1024) this.flushOutput()
  }

  private flushOutput(): void {
    if (this.output === '') return
    this.outputTokens += this.countText(this.output)
    this.output = ''
  }
}
