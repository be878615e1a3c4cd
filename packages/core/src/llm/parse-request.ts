import { shown } from '../errors.js'
import { geminiRoute, parseGeminiRequest } from './gemini.js'
/** Which LLM API a request body speaks. */
export type LlmApi =
  | 'openai-chat'
  | 'openai-completions'
  | 'openai-responses'
  | 'openai-embeddings'
  | 'anthropic-messages'
  | 'gemini-generate-content'

/** A recognised LLM request: what the limiter needs to estimate it. */
export interface LlmRequest {
  /** The API the body speaks. */
  readonly api: LlmApi
  /** Requested model. */
  readonly model: string
  /** The response will be streamed as server-sent events. */
  readonly stream: boolean
  /** Number of choices (`n`), 1 unless asked. */
  readonly n: number
  /** `max_tokens` / `max_completion_tokens` / `max_output_tokens`, when given. */
  readonly maxOutputTokens: number | undefined
  /** The parsed body itself. */
  readonly body: Record<string, unknown>
}

/** A body on an LLM route that cannot be a valid request; `invalid` says why. */
export interface InvalidLlmRequest {
  /** A message for the client naming the field and what it must be. */
  readonly invalid: string
}

/** A path ending only an LLM API uses: the path alone says the body must be that API's request. */
const LLM_ONLY_ROUTE = '/chat/completions'
/**
 * Path endings other apps use too (`POST /conversations/7/messages`): such a route is taken for the
 * LLM API only when the body also carries `model` and the API's own field.
 */
const SHARED_ROUTES: readonly [suffix: string, api: LlmApi, field: string][] = [
  ['/completions', 'openai-completions', 'prompt'],
  ['/responses', 'openai-responses', 'input'],
  ['/embeddings', 'openai-embeddings', 'input'],
  ['/messages', 'anthropic-messages', 'messages'],
]
const NOT_AN_OBJECT =
  'The request body must be a JSON object like `{"model": …, "messages": […]}`, sent with Content-Type: application/json. If a body parser ran before llmLimit, it must parse JSON (not raw bytes or text).'
/** Most output tokens one request may ask for (`max_tokens` and its kin). */
export const MAX_OUTPUT_TOKENS = 10_000_000
const MAX_N = 128

/** Endpoints that count a request's tokens for free (Anthropic's, OpenAI's): never a call to charge. */
const COUNTING_ROUTES = ['/count_tokens', '/input_tokens']

/**
 * A path as routes compare it: lower case, without a trailing slash. Express and Koa serve
 * `/V1/Chat/Completions/` from the `/v1/chat/completions` handler, so an exact comparison would
 * let a client step around a route's rules, or around being counted as an LLM call.
 */
export function routePath(path: string): string {
  const lower = path.toLowerCase()
  return lower.length > 1 && lower.endsWith('/') ? lower.slice(0, -1) : lower
}

/**
 * The API an LLM route serves, judged by the path's ending (and, for endings other apps use too,
 * by the body's fields), or undefined.
 */
export function apiForPath(path: string, body?: unknown): LlmApi | undefined {
  return apiForRoute(routePath(path), body)
}

/**
 * Whether a request must be read as an LLM call whatever its content type: `'llm'` for a path only
 * an LLM API uses (`/chat/completions`), `'maybe'` for the endings other apps share (the body
 * decides), undefined for any other path or a method that carries no call (GET, HEAD, OPTIONS, DELETE).
 */
export function llmRouteKind(method: string, path: string): 'llm' | 'maybe' | undefined {
  const upper = method.toUpperCase()
  if (upper === 'GET' || upper === 'HEAD' || upper === 'OPTIONS' || upper === 'DELETE') return undefined
  const route = routePath(path)
  if (route.endsWith(LLM_ONLY_ROUTE)) return 'llm'
  if (COUNTING_ROUTES.some((suffix) => route.endsWith(suffix))) return undefined
  for (const [suffix] of SHARED_ROUTES) if (route.endsWith(suffix)) return 'maybe'
  return undefined
}

function apiForRoute(route: string, body: unknown): LlmApi | undefined {
  if (route.endsWith(LLM_ONLY_ROUTE)) return 'openai-chat'
  if (geminiRoute(route)) return 'gemini-generate-content'
  if (typeof body !== 'object' || body === null) return undefined
  const record = body as Record<string, unknown>
  for (const [suffix, api, field] of SHARED_ROUTES)
    if (route.endsWith(suffix))
      return record.model !== undefined && record[field] !== undefined ? api : undefined
  return undefined
}

/**
 * Recognises OpenAI chat/completions/responses/embeddings and Anthropic messages bodies, by path
 * and otherwise by shape. Returns undefined for anything that is not an LLM request (it still
 * counts against request rules), or `{ invalid }` for an LLM request of the wrong shape, including
 * a chat completions body that is not an object (JSON `null`, an array, raw bytes or text).
 */
export function parseLlmRequest(body: unknown, path: string): LlmRequest | InvalidLlmRequest | undefined {
  if (body === undefined) return undefined
  const route = routePath(path)
  if (typeof body !== 'object' || body === null || Array.isArray(body) || ArrayBuffer.isView(body)) {
    return apiForRoute(route, undefined) === undefined ? undefined : { invalid: NOT_AN_OBJECT }
  }
  const record = body as Record<string, unknown>
  if (COUNTING_ROUTES.some((suffix) => route.endsWith(suffix))) return undefined
  const gemini = geminiRoute(route)
  if (gemini) return parseGeminiRequest(record, gemini)
  const api = apiForRoute(route, record) ?? apiForShape(record)
  if (api === undefined) return undefined
  if (typeof record.model !== 'string' || record.model.length === 0) {
    return { invalid: '`model` must be a non-empty string naming the model.' }
  }
  if (record.model.length > 256) {
    return {
      invalid: `\`model\` is ${record.model.length} characters long; model names are at most 256. Send the model's name, not its description.`,
    }
  }
  const shape = checkShape(api, record)
  if (shape) return { invalid: shape }
  const n = record.n ?? 1
  if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > MAX_N) {
    return { invalid: `\`n\` must be a whole number from 1 to ${MAX_N}, got ${shown(record.n)}.` }
  }
  let maxOutputTokens: number | undefined
  for (const field of ['max_completion_tokens', 'max_tokens', 'max_output_tokens']) {
    const value = record[field]
    if (value === undefined || value === null) continue
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_OUTPUT_TOKENS) {
      return {
        invalid: `\`${field}\` must be a whole number from 0 to ${MAX_OUTPUT_TOKENS}, got ${shown(value)}.`,
      }
    }
    maxOutputTokens ??= value as number
  }
  if (api === 'anthropic-messages' && maxOutputTokens === undefined) {
    return { invalid: '`max_tokens` is required for Anthropic messages.' }
  }
  return {
    api,
    model: record.model,
    stream: record.stream === true,
    n: n as number,
    maxOutputTokens,
    body: record,
  }
}

/**
 * Returns a copy of an OpenAI streaming body that asks for a final usage chunk
 * (`stream_options.include_usage`), or the body itself when nothing needs to change.
 */
export function withStreamUsage(body: Record<string, unknown>): Record<string, unknown> {
  const options = body.stream_options
  if (body.stream !== true || body.input !== undefined) return body
  if (
    typeof options === 'object' &&
    options !== null &&
    (options as Record<string, unknown>).include_usage === true
  )
    return body
  const base = typeof options === 'object' && options !== null ? options : {}
  return { ...body, stream_options: { ...base, include_usage: true } }
}

function apiForShape(body: Record<string, unknown>): LlmApi | undefined {
  if (typeof body.model !== 'string') return undefined
  if (Array.isArray(body.messages)) {
    // Anthropic keeps the system prompt outside the messages and always sets max_tokens.
    return typeof body.system === 'string' ||
      Array.isArray(body.system) ||
      typeof body.anthropic_version === 'string'
      ? 'anthropic-messages'
      : 'openai-chat'
  }
  if (body.prompt !== undefined) return 'openai-completions'
  if (body.input !== undefined) return /embed/i.test(body.model) ? 'openai-embeddings' : 'openai-responses'
  return undefined
}

function checkShape(api: LlmApi, body: Record<string, unknown>): string | undefined {
  switch (api) {
    case 'openai-chat':
    case 'anthropic-messages': {
      const messages = body.messages
      if (!Array.isArray(messages)) return '`messages` must be an array of messages.'
      const bad = messages.findIndex(
        (message) =>
          typeof message !== 'object' ||
          message === null ||
          typeof (message as Record<string, unknown>).role !== 'string',
      )
      return bad >= 0 ? `\`messages[${bad}]\` must be an object with a string \`role\`.` : undefined
    }
    case 'openai-completions':
      return typeof body.prompt === 'string' || Array.isArray(body.prompt)
        ? undefined
        : '`prompt` must be a string or an array.'
    case 'openai-embeddings':
      return typeof body.input === 'string' || Array.isArray(body.input)
        ? undefined
        : '`input` must be a string or an array.'
    case 'openai-responses':
      return body.input === undefined || typeof body.input === 'string' || Array.isArray(body.input)
        ? undefined
        : '`input` must be a string or an array of items.'
  }
}
