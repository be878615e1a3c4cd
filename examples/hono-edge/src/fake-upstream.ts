/** What the fake upstream reads from an OpenAI chat request. */
interface ChatRequest {
  model?: string
  stream?: boolean
  max_tokens?: number
}

const WORDS = ['Rate', ' limits', ' keep', ' every', ' caller', ' fair', '.']

/**
 * An OpenAI-shaped answer with real `usage`, as JSON or as server-sent events ending in a usage
 * chunk. `delayMs` spaces the chunks out, so a client can hang up mid-stream.
 */
export function fakeChatCompletion(body: unknown, inputTokens: number, delayMs: number): Response {
  const request = (typeof body === 'object' && body !== null ? body : {}) as ChatRequest
  const model = request.model ?? 'gpt-4o-mini'
  const words = WORDS.slice(0, Math.max(1, Math.min(WORDS.length, request.max_tokens ?? WORDS.length)))
  const usage = {
    prompt_tokens: inputTokens,
    completion_tokens: words.length,
    total_tokens: inputTokens + words.length,
  }
  const id = 'chatcmpl-fake'
  if (!request.stream) {
    const message = { role: 'assistant', content: words.join('') }
    const answer = {
      id,
      object: 'chat.completion',
      model,
      choices: [{ index: 0, message, finish_reason: 'stop' }],
      usage,
    }
    // Not Response.json(): runtimes disagree on its charset parameter.
    return new Response(JSON.stringify(answer), { headers: { 'content-type': 'application/json' } })
  }
  const encoder = new TextEncoder()
  const event = (data: unknown) => encoder.encode(`data: ${JSON.stringify(data)}\n\n`)
  const chunk = (delta: object, finish: string | null) => ({
    id,
    object: 'chat.completion.chunk',
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  })
  let i = 0
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
      if (i < words.length) controller.enqueue(event(chunk({ content: words[i] }, null)))
      else if (i === words.length) controller.enqueue(event(chunk({}, 'stop')))
      else if (i === words.length + 1) controller.enqueue(event({ ...chunk({}, null), choices: [], usage }))
      else {
        controller.enqueue(encoder.encode('data: [DONE]\n\n'))
        controller.close()
      }
      i++
    },
  })
  return new Response(stream, {
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
  })
}
