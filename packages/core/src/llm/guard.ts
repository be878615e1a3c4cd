/** Texts up to this length with no long run are counted in one exact call. */
const SMALL = 4096
/** Longest run without whitespace tokenized in one piece; BPE is superlinear inside one pre-token. */
export const MAX_RUN = 64
/** Piece length when a long text is cut (at whitespace when possible). */
const PIECE = 1024
/** Texts longer than this are sampled in evenly spaced windows instead of being cut whole. */
export const EXACT_BUDGET = 65_536
/** Most time one count may take; past it, what was counted is extrapolated. */
export const TIME_BUDGET_MS = 4

const LONG_RUN = new RegExp(`\\S{${MAX_RUN + 1},}`)

/**
 * Counts tokens in bounded time on any input. Normal text is counted exactly in one call. Long
 * text is cut into whitespace-aligned pieces with no unbroken run over MAX_RUN characters (BPE
 * is quadratic inside one pre-token: 20,000 × 'a' takes seconds whole), counted in a spread
 * order until TIME_BUDGET_MS is spent, and the rest extrapolated by characters. Texts over
 * EXACT_BUDGET characters are only ever sampled, so a 5 MB prompt costs what a 64 KB one does.
 */
export function guardedCount(text: string, count: (text: string) => number): number {
  if (text.length <= SMALL && !LONG_RUN.test(text)) return count(text)
  const pieces = text.length <= EXACT_BUDGET ? cut(text, 0, text.length) : sample(text)
  const started = performance.now()
  // Visit pieces in a stride order so a partial count is spread over the whole text.
  const stride = Math.max(1, Math.floor(Math.sqrt(pieces.length)))
  let countedChars = 0
  let countedTokens = 0
  let visited = 0
  for (let offset = 0; offset < stride; offset++) {
    for (let i = offset; i < pieces.length; i += stride) {
      countedChars += pieces[i].length
      countedTokens += count(pieces[i])
      visited++
      if (performance.now() - started > TIME_BUDGET_MS)
        return extrapolate(countedTokens, countedChars, text.length)
    }
  }
  return visited === pieces.length && text.length <= EXACT_BUDGET
    ? countedTokens
    : extrapolate(countedTokens, countedChars, text.length)
}

function extrapolate(tokens: number, chars: number, total: number): number {
  return Math.ceil((tokens * total) / Math.max(1, chars))
}

/** Evenly spaced windows over a huge text (64 of PIECE characters). */
function sample(text: string): string[] {
  const windows = 64
  const spacing = Math.floor(text.length / windows)
  const pieces: string[] = []
  for (let w = 0; w < windows; w++)
    pieces.push(...cut(text, w * spacing, Math.min(text.length, w * spacing + PIECE)))
  return pieces
}

/** Cuts text[from, to) into pieces of at most PIECE characters, ending before whitespace, with no run longer than MAX_RUN. */
function cut(text: string, from: number, to: number): string[] {
  const pieces: string[] = []
  let start = from
  let run = 0
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i)
    const space = code === 32 || code === 10 || code === 9 || code === 13
    run = space ? 0 : run + 1
    if (run > MAX_RUN) {
      pieces.push(text.slice(start, i))
      start = i
      run = 1
    } else if (space && i - start >= PIECE) {
      // Cutting before the space keeps " word" together, as the tokenizer's pre-split does.
      pieces.push(text.slice(start, i))
      start = i
    }
  }
  if (start < to) pieces.push(text.slice(start, to))
  return pieces
}
