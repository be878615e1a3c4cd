const BOUNDARY = /\r\n\r\n|\n\n|\r\r/g

/**
 * Takes OpenAI's usage-only chunk (`{"choices":[],"usage":{…}}`) out of a server-sent event
 * stream, for clients that never asked for it: llm-limit adds `stream_options.include_usage` to
 * learn the usage, and a client looping over `chunk.choices[0].delta` would fail on that chunk.
 * Whole events pass through byte for byte; a partial event is held until its end arrives.
 */
export class UsageChunkFilter {
  private readonly decoder = new TextDecoder()
  private pending = ''
  /** Usage-only chunks removed so far. */
  removed = 0

  /** What to send for this chunk: the complete events in it, minus the usage-only one. */
  write(chunk: Uint8Array | string): string {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true })
    let end = 0
    BOUNDARY.lastIndex = 0
    let out = ''
    for (let match = BOUNDARY.exec(this.pending); match !== null; match = BOUNDARY.exec(this.pending)) {
      const stop = match.index + match[0].length
      const event = this.pending.slice(end, stop)
      if (!this.usageOnly(event)) out += event
      end = stop
    }
    this.pending = this.pending.slice(end)
    return out
  }

  /** The rest, when the body ends (an event cut short passes through as it is). */
  end(chunk?: Uint8Array | string): string {
    const out = chunk === undefined ? '' : this.write(chunk)
    const rest = this.pending + this.decoder.decode()
    this.pending = ''
    return out + (this.usageOnly(rest) ? '' : rest)
  }

  private usageOnly(event: string): boolean {
    // Cheap test first: only an event that names both fields can be the usage chunk.
    if (!event.includes('"usage"') || !event.includes('"choices"')) return false
    const data: string[] = []
    for (const line of event.split(/\r\n|\r|\n/)) {
      if (line.startsWith('data:')) data.push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5))
    }
    try {
      const parsed = JSON.parse(data.join('\n')) as { choices?: unknown; usage?: unknown }
      const only =
        Array.isArray(parsed.choices) &&
        parsed.choices.length === 0 &&
        typeof parsed.usage === 'object' &&
        parsed.usage !== null
      if (only) this.removed++
      return only
    } catch {
      return false
    }
  }
}
