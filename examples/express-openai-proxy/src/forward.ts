import type { Response as ExpressResponse } from 'express'

/** Rate-limit headers of every flavour: OpenAI's, Anthropic's, IETF, legacy and Retry-After. */
const RATE_LIMIT =
  /^(retry-after(-ms)?|x-should-retry|x-ratelimit-.*|ratelimit(-.*)?|anthropic-ratelimit-.*)$/

/** Upstream headers a client always needs: the content type and the ids support asks for. */
const ALWAYS = new Set(['content-type', 'x-request-id', 'request-id', 'openai-processing-ms'])

/**
 * Sends an upstream answer through: its status, its request id, and its body as it streams (llmLimit
 * reads the usage on the way). When the upstream refused (429 or 5xx), its own rate-limit headers
 * replace the proxy's, so a client never sees "remaining: 4" beside the upstream's "retry in 20s".
 */
export async function forward(answer: Response, res: ExpressResponse): Promise<void> {
  const refused = answer.status === 429 || answer.status >= 500
  if (refused) {
    for (const name of res.getHeaderNames()) if (RATE_LIMIT.test(name)) res.removeHeader(name)
  }
  res.status(answer.status)
  for (const [name, value] of answer.headers) {
    if (ALWAYS.has(name) || (refused && RATE_LIMIT.test(name))) res.setHeader(name, value)
  }
  if (!answer.body) {
    res.end()
    return
  }
  for await (const chunk of answer.body) res.write(chunk)
  res.end()
}
