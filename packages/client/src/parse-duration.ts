const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g

/** Parses OpenAI's reset durations (`6m0s`, `1s`, `120ms`, `1h2m3.5s`, `0.5s`) into ms, or undefined. */
export function parseResetDuration(value: string): number | undefined {
  const text = value.trim()
  if (text === '' || text.length > 32) return undefined
  let total = 0
  let consumed = 0
  for (const match of text.matchAll(PART)) {
    if (match.index !== consumed) return undefined
    total += Number(match[1]) * UNITS[match[2]]
    consumed += match[0].length
  }
  if (consumed !== text.length) {
    // A bare number is seconds.
    const seconds = Number(text)
    return consumed === 0 && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined
  }
  return Number.isFinite(total) ? total : undefined
}
