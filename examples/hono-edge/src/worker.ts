import { env } from 'cloudflare:workers'
import { gptTokenizer } from '@llm-limit/core'
import { durableObjectStore } from '@llm-limit/workers'
// A bundled Worker cannot require() an encoding at run time, so it is imported here.
import * as o200k_base from 'gpt-tokenizer/encoding/o200k_base'
import { createApp } from './app.js'

export { LlmLimitObject } from '@llm-limit/workers'

/** The Durable Object binding of wrangler.jsonc. */
interface Env {
  LLM_LIMIT: Parameters<typeof durableObjectStore>[0]['namespace']
}

export default createApp({
  store: durableObjectStore({ namespace: (env as unknown as Env).LLM_LIMIT }),
  tokenizer: gptTokenizer({ encodings: { o200k_base } }),
})
