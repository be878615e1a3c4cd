import {
  type ConsumeResult,
  LlmLimitError,
  type Store,
  type StoreAdjustment,
  type StoreCheck,
  type StoreCheckResult,
  type StoreContext,
} from '@llm-limit/core'
import { type LimitCall, wireCheck } from './protocol.js'

/** The part of a Durable Object namespace binding the store uses (`DurableObjectNamespace` on Workers). */
export interface LimitNamespace {
  idFromName(name: string): unknown
  get(id: never): { fetch(input: string, init?: RequestInit): Promise<Response> }
}

/** Options of `durableObjectStore()`. */
export interface DurableObjectStoreOptions {
  /**
   * The Durable Object namespace bound to `LlmLimitObject`, or a function returning it (for a
   * binding only known per request, e.g. `() => env.LLM_LIMIT` with `import { env } from 'cloudflare:workers'`).
   */
  namespace: LimitNamespace | (() => LimitNamespace)
  /** Prefix of object names, so two apps sharing one namespace keep apart. @default 'llm-limit:' */
  prefix?: string
  /** Ms one call to an object may take before the decision fails with `ERR_STORE_TIMEOUT`. @default 2000 */
  timeoutMs?: number
}

/**
 * A store whose counters live in Durable Objects, one object per identity group: every rule of an
 * identity is decided in one call, atomically, by that object's single thread. Decisions spanning
 * several identities (per-IP and per-key rules) ask each object in parallel and refund the ones that
 * admitted when another denied, so nothing is charged on a denial.
 * @example
 * import { env } from 'cloudflare:workers'
 * app.use('/v1/*', llmLimit({ store: durableObjectStore({ namespace: env.LLM_LIMIT }) }))
 * export { LlmLimitObject } from '@llm-limit/workers'
 */
export function durableObjectStore(options: DurableObjectStoreOptions): Store {
  const namespaceOf = typeof options?.namespace === 'function' ? options.namespace : () => options.namespace
  if (options?.namespace === undefined || options.namespace === null) {
    throw new LlmLimitError(
      'ERR_CONFIG',
      'Expected `durableObjectStore({ namespace })` to be a Durable Object namespace bound to LlmLimitObject (see wrangler.example.jsonc in @llm-limit/workers), got undefined.',
    )
  }
  const prefix = options.prefix ?? 'llm-limit:'
  const timeoutMs = options.timeoutMs ?? 2000

  const call = async (group: string, body: LimitCall): Promise<Response> => {
    const namespace = namespaceOf() as LimitNamespace | undefined
    if (typeof namespace?.idFromName !== 'function') {
      throw new LlmLimitError(
        'ERR_CONFIG',
        '`durableObjectStore({ namespace })` returned no Durable Object namespace; bind one to LlmLimitObject in wrangler.jsonc (durable_objects.bindings).',
      )
    }
    const stub = namespace.get(namespace.idFromName(prefix + group) as never)
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new LlmLimitError(
              'ERR_STORE_TIMEOUT',
              `Durable Object ${prefix}${group} did not answer within ${timeoutMs} ms.`,
            ),
          ),
        timeoutMs,
      )
    })
    try {
      const response = await Promise.race([
        stub.fetch('https://llm-limit.internal/', { method: 'POST', body: JSON.stringify(body) }),
        timeout,
      ])
      if (!response.ok) {
        throw new LlmLimitError(
          'ERR_STORE',
          `Durable Object ${prefix}${group} answered ${response.status}: ${await response.text()}`,
        )
      }
      return response
    } catch (error) {
      if (error instanceof LlmLimitError) throw error
      throw new LlmLimitError(
        'ERR_STORE_UNAVAILABLE',
        `Durable Object ${prefix}${group} failed: ${String(error)}`,
        {
          cause: error,
        },
      )
    } finally {
      clearTimeout(timer)
    }
  }

  const consumeGroup = async (
    group: string,
    checks: StoreCheck[],
    requestId: string,
  ): Promise<ConsumeResult> => {
    const response = await call(group, { op: 'consume', requestId, checks: checks.map(wireCheck) })
    return (await response.json()) as ConsumeResult
  }

  const adjust = async (adjustments: readonly StoreAdjustment[], context: StoreContext): Promise<void> => {
    const byGroup = new Map<string, StoreAdjustment[]>()
    for (const adjustment of adjustments) {
      const list = byGroup.get(adjustment.check.group)
      if (list) list.push(adjustment)
      else byGroup.set(adjustment.check.group, [adjustment])
    }
    await Promise.all(
      [...byGroup].map(async ([group, list]) => {
        const response = await call(group, {
          op: 'adjust',
          requestId: context.requestId,
          adjustments: list.map(({ check, window, delta }) => ({ check: wireCheck(check), window, delta })),
        })
        await response.body?.cancel()
      }),
    )
  }

  return {
    name: 'durable-object',
    async consume(checks, context) {
      const groups = new Map<string, number[]>()
      checks.forEach((check, index) => {
        const indexes = groups.get(check.group)
        if (indexes) indexes.push(index)
        else groups.set(check.group, [index])
      })
      if (groups.size <= 1) {
        return checks.length === 0
          ? { allowed: true, now: Date.now(), results: [] }
          : consumeGroup(checks[0].group, [...checks], context.requestId)
      }
      const parts = [...groups]
      const answers = await Promise.all(
        parts.map(([group, indexes]) =>
          consumeGroup(
            group,
            indexes.map((i) => checks[i]),
            context.requestId,
          ),
        ),
      )
      const results: StoreCheckResult[] = new Array(checks.length)
      answers.forEach((answer, p) => {
        parts[p][1].forEach((index, i) => {
          results[index] = answer.results[i]
        })
      })
      const allowed = answers.every((answer) => answer.allowed)
      if (!allowed) {
        // Objects that admitted were charged; give it back so the decision stays all-or-nothing.
        // The refund carries the decision's own id, which is what releases a lease it took.
        const refunds: StoreAdjustment[] = []
        answers.forEach((answer, p) => {
          if (!answer.allowed) return
          for (const index of parts[p][1]) {
            const check = checks[index]
            if (check.cost > 0) refunds.push({ check, window: results[index].window, delta: -check.cost })
          }
        })
        if (refunds.length > 0) await adjust(refunds, context)
        for (const refund of refunds) {
          const index = checks.indexOf(refund.check)
          results[index] = { ...results[index], remaining: results[index].remaining + refund.check.cost }
        }
      }
      return { allowed, now: Math.max(...answers.map((answer) => answer.now)), results }
    },
    adjust,
  }
}
