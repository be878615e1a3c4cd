/** Texts up to this length with no long run are counted in one exact call. */
const SMALL = 4096
/** Longest run without whitespace tokenized in one piece; BPE is superlinear inside one pre-token. */
export const MAX_RUN = 64
/** Piece length when a long text is cut (at whitespace when possible). */
const PIECE = 1024
/** Texts longer than this are sampled in windows instead of being cut whole. */
export const EXACT_BUDGET = 65_536
/** Windows of PIECE characters sampled from a text longer than EXACT_BUDGET (16 K characters in all). */
const WINDOWS = 16
/** Most time one count may take; past it, what was counted is extrapolated. */
const TIME_BUDGET_MS = 4

const LONG_RUN = new RegExp(`\\S{${MAX_RUN + 1},}`)

/**
 * Counts tokens in bounded time on any input. Normal text is counted exactly in one call. Long
 * text is cut into whitespace-aligned pieces with no unbroken run over MAX_RUN characters (BPE
 * is quadratic inside one pre-token: 20,000 × 'a' takes seconds whole), counted in a spread
 * order until TIME_BUDGET_MS is spent, and the rest extrapolated by characters. Texts over
 * EXACT_BUDGET characters are only ever sampled (one window at a random place in each of WINDOWS
 * equal stretches, so no part of the text can hide between fixed windows), so a 5 MB prompt costs
 * less than a 64 KB one. `now` is the clock of the time budget (tests freeze it).
 */
export function guardedCount(
  text: string,
  count: (text: string) => number,
  now: () => number = performance.now.bind(performance),
): number {
  if (text.length <= SMALL && !LONG_RUN.test(text)) return count(text)
  const pieces = text.length <= EXACT_BUDGET ? cut(text, 0, text.length) : sample(text)
  const started = now()
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
      if (now() - started > TIME_BUDGET_MS) return extrapolate(countedTokens, countedChars, text.length)
    }
  }
  return visited === pieces.length && text.length <= EXACT_BUDGET
    ? countedTokens
    : extrapolate(countedTokens, countedChars, text.length)
}

function extrapolate(tokens: number, chars: number, total: number): number {
  return Math.ceil((tokens * total) / Math.max(1, chars))
}

/** One window of PIECE characters at a random offset in each of WINDOWS equal stretches of a huge text. */
function sample(text: string): string[] {
  const stretch = Math.floor(text.length / WINDOWS)
  const pieces: string[] = []
  for (let w = 0; w < WINDOWS; w++) {
    const from = w * stretch + Math.floor(Math.random() * Math.max(0, stretch - PIECE))
    for (const piece of cut(text, from, Math.min(text.length, from + PIECE))) pieces.push(piece)
  }
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
