import type { Usage } from '../types.js'
import { geminiChunk } from './gemini.js'
import { usageFromJson, usageFromObject } from './usage.js'

/** Watches a response body go by and finds the provider's usage in it. */
export interface UsageSniffer {
  /** Feeds the next chunk of the body. */
  write(chunk: Uint8Array | string): void
  /** The provider's final usage, once the body is complete; undefined when it reported none. */
  end(): Usage | undefined
  /** What has streamed so far (for aborted streams): input if reported, output counted from the text. */
  streamed(): Usage
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
  return { write() {}, end: () => undefined, streamed: () => ({ inputTokens: 0, outputTokens: 0 }) }
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

  streamed(): Usage {
    return { inputTokens: 0, outputTokens: 0 }
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
  private output = ''
  private outputTokens = 0

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
    if (this.input !== undefined && this.anthropicOutput !== undefined)
      return { ...this.anthropicStart, inputTokens: this.input, outputTokens: this.anthropicOutput }
    return undefined
  }

  streamed(): Usage {
    this.flushOutput()
    return {
      inputTokens: this.input ?? 0,
      outputTokens: Math.max(this.outputTokens, this.anthropicOutput ?? 0),
    }
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
    if (payload === '' || payload === '[DONE]' || payload[0] !== '{') return
    let event: Record<string, unknown>
    try {
      event = JSON.parse(payload)
    } catch {
      return
    }
    this.event(event)
  }

  private event(event: Record<string, unknown>): void {
    switch (event.type) {
      case 'message_start': {
        const usage = usageFromObject((event.message as Record<string, unknown> | undefined)?.usage)
        if (usage) {
          this.input = usage.inputTokens
          this.anthropicOutput = usage.outputTokens
          this.anthropicStart = usage
        }
        return
      }
      case 'message_delta': {
        const output = usageFromObject({
          output_tokens: (event.usage as Record<string, unknown> | undefined)?.output_tokens,
        })
        if (output) this.anthropicOutput = output.outputTokens
        return
      }
      case 'content_block_delta': {
        const text = (event.delta as Record<string, unknown> | undefined)?.text
        if (typeof text === 'string') this.append(text)
        return
      }
      case 'response.output_text.delta':
        if (typeof event.delta === 'string') this.append(event.delta)
        return
      case 'response.completed': {
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
    const usage = usageFromObject(event.usage)
    if (usage) this.final = usage
    const choices = event.choices
    if (Array.isArray(choices)) {
      for (const choice of choices) {
        const content = (choice as { delta?: { content?: unknown } } | null)?.delta?.content
        if (typeof content === 'string') this.append(content)
      }
    }
  }

  /** Streamed text is counted in batches so the sniffer's memory stays bounded. */
  private append(text: string): void {
    this.output += text
    if (this.output.length > 16 * 1024) this.flushOutput()
  }

  private flushOutput(): void {
    if (this.output === '') return
    this.outputTokens += this.countText(this.output)
    this.output = ''
  }
}
