import { createRequire } from 'node:module'
import { LlmLimitError } from '../errors.js'
import { guardedCount } from './guard.js'

/** Counts tokens of text for a model; every implementation must be safe on any input. */
export interface Tokenizer {
  /** Name for logs and metrics. */
  readonly name: string
  /** Token count of `text` as `model` would see it. */
  count(text: string, model: string): number
  /**
   * Models with the same key count every text identically, so they share cached counts.
   * @default the model name itself (no sharing)
   */
  cacheKey?(model: string): string
  /** Loads what counting needs (encodings, ranks) now, so the first request does not pay for it. */
  preload?(): void
}

/** The BPE encodings llm-limit knows. */
export type EncodingName = 'o200k_base' | 'cl100k_base'

/**
 * Claude and Gemini have no public tokenizer. Measured on English prose and code, their counts run
 * about 10–20% above o200k_base, so o200k × 1.15 (rounded up) is reserved; reconciling with the
 * provider's reported usage corrects the rest.
 */
export const CALIBRATION: Readonly<Record<string, number>> = Object.freeze({ claude: 1.15, gemini: 1.1 })

/** The encoding a model uses: o200k_base for gpt-4o, gpt-4.1, gpt-5 and o-series; cl100k_base for gpt-4, gpt-3.5 and embeddings. */
export function encodingFor(model: string): EncodingName {
  const name = model.toLowerCase()
  if (
    name.startsWith('gpt-4-') ||
    name === 'gpt-4' ||
    name.startsWith('gpt-4-32k') ||
    name.startsWith('gpt-3.5') ||
    name.startsWith('text-embedding') ||
    name.startsWith('text-davinci')
  ) {
    return name.startsWith('gpt-4-o') ? 'o200k_base' : 'cl100k_base'
  }
  return 'o200k_base'
}

/** Multiplier applied to o200k counts for models without a public tokenizer (1 for OpenAI models). */
export function calibrationFor(model: string): number {
  const name = model.toLowerCase()
  for (const [prefix, factor] of Object.entries(CALIBRATION)) if (name.startsWith(prefix)) return factor
  return 1
}

// Special-token text in user content (`<|endoftext|>`) is counted as plain text, never thrown on.
const AS_TEXT = { disallowedSpecial: new Set<string>() }

type CountTokens = (text: string, options: typeof AS_TEXT) => number

const loaded: Partial<Record<EncodingName, (text: string) => number>> = {}

/** An encoding module of gpt-tokenizer (`import * as o200k from 'gpt-tokenizer/encoding/o200k_base'`). */
export interface GptTokenizerEncoding {
  /** The module's own counter. */
  countTokens: CountTokens
}

/** Options of `gptTokenizer()`. */
export interface GptTokenizerOptions {
  /**
   * Encoding modules imported by the app, used instead of loading them on first use. Needed where
   * `require` cannot reach `node_modules` at run time: a bundled Cloudflare Worker.
   * @default each encoding is loaded from gpt-tokenizer on first use
   */
  encodings?: Partial<Record<EncodingName, GptTokenizerEncoding>>
}

/**
 * gpt-tokenizer's ranks take about 0.3 s and 30 MB per encoding to load, so an encoding is loaded
 * when a limiter is built (`preload`) or when it first counts, not when @llm-limit/core is
 * imported: code that never limits never pays, and a gpt-4o-only app never loads cl100k_base. `require` keeps counting synchronous; the
 * literal paths keep bundlers able to trace them.
 */
function encoding(name: EncodingName): (text: string) => number {
  let count = loaded[name]
  if (count === undefined) {
    const module = load(name)
    count = (text) => module.countTokens(text, AS_TEXT)
    loaded[name] = count
  }
  return count
}

function load(name: EncodingName): GptTokenizerEncoding {
  try {
    // `import.meta.url` in the ESM build; the CJS build has no import.meta, but has __filename.
    const load = createRequire(import.meta.url ?? __filename)
    return (
      name === 'o200k_base'
        ? load('gpt-tokenizer/encoding/o200k_base')
        : load('gpt-tokenizer/encoding/cl100k_base')
    ) as GptTokenizerEncoding
  } catch (error) {
    // A bundled Worker has no module path to require from (workerd leaves `import.meta.url` undefined).
    throw new LlmLimitError(
      'ERR_CONFIG',
      `Could not load gpt-tokenizer's ${name} encoding on this runtime (${String(error)}). Import it yourself and pass it: \`import * as ${name.slice(0, 5)} from 'gpt-tokenizer/encoding/${name}'\`, then \`createLimiter({ tokenizer: gptTokenizer({ encodings: { ${name}: ${name.slice(0, 5)} } }) })\`.`,
      { cause: error },
    )
  }
}

/**
 * The default tokenizer: gpt-tokenizer with the model's encoding, a linear-time guard against
 * pathological input, and a calibrated estimate for Claude and Gemini.
 * @example
 * createLimiter({ tokenizer: gptTokenizer() })
 */
export function gptTokenizer(options: GptTokenizerOptions = {}): Tokenizer {
  const given = options.encodings
  if (given === undefined) {
    return {
      name: 'gpt-tokenizer',
      count: (text, model) => calibrated(guardedCount(text, encoding(encodingFor(model))), model),
      cacheKey,
      // o200k_base serves every current OpenAI model and the Claude and Gemini estimates; cl100k_base
      // (gpt-4, gpt-3.5, embeddings) still loads on its first count.
      preload: () => void encoding('o200k_base'),
    }
  }
  for (const [name, module] of Object.entries(given)) {
    if (typeof module?.countTokens !== 'function') {
      throw new LlmLimitError(
        'ERR_CONFIG',
        `Expected \`gptTokenizer({ encodings: { ${name} } })\` to be gpt-tokenizer's encoding module (\`import * as m from 'gpt-tokenizer/encoding/${name}'\`), got a value without \`countTokens\`.`,
      )
    }
  }
  const injected: Partial<Record<EncodingName, (text: string) => number>> = {}
  for (const name of ['o200k_base', 'cl100k_base'] as const) {
    const module = given[name]
    if (module) injected[name] = (text) => module.countTokens(text, AS_TEXT)
  }
  // An encoding the app did not pass is loaded as usual (on a Worker, that fails with the fix named).
  const pick = (name: EncodingName) => injected[name] ?? encoding(name)
  return {
    name: 'gpt-tokenizer',
    count: (text, model) => calibrated(guardedCount(text, pick(encodingFor(model))), model),
    cacheKey,
  }
}

/** What `jsTiktoken()` needs of the js-tiktoken module. */
export interface JsTiktokenModule {
  getEncoding(name: EncodingName): {
    encode(text: string, allowedSpecial?: unknown, disallowedSpecial?: unknown): number[]
  }
}

/**
 * The same interface over js-tiktoken (an optional peer): pass `import * as tiktoken from 'js-tiktoken'`.
 * Identical counts to `gptTokenizer()`; the guard matters more here, since js-tiktoken is
 * quadratic on long unbroken runs.
 */
export function jsTiktoken(module: JsTiktokenModule): Tokenizer {
  const encodings = new Map<EncodingName, (text: string) => number>()
  const exact = (encoding: EncodingName) => {
    let count = encodings.get(encoding)
    if (!count) {
      const encoder = module.getEncoding(encoding)
      count = (text) => encoder.encode(text, [], []).length
      encodings.set(encoding, count)
    }
    return count
  }
  return {
    name: 'js-tiktoken',
    count: (text, model) => calibrated(guardedCount(text, exact(encodingFor(model))), model),
    cacheKey,
  }
}

/** Counts of the built-in tokenizers depend only on the encoding and the calibration. */
function cacheKey(model: string): string {
  return `${encodingFor(model)}*${calibrationFor(model)}`
}

function calibrated(tokens: number, model: string): number {
  const factor = calibrationFor(model)
  return factor === 1 ? tokens : Math.ceil(tokens * factor)
}
