import http from 'node:http'
import { createEstimator, type LimiterOptions, memoryStore } from '@llm-limit/core'
import { describe, expect, it } from 'vitest'
import {
  type Behaviour,
  bodyOf,
  type Client,
  type ContentType,
  chargedLedger,
  type DeltaKind,
  expressApp,
  FakeProvider,
  honoApp,
  koaApp,
  type ResponsesEnd,
  random,
  type Script,
  send,
  settled,
} from './ledger-apps.js'

/** The prices llm-limit charges with, which the fake provider bills with too. */
const catalog = createEstimator()

/**
 * Requests per framework: the full ledger of 10,000 (about 30 s each on a quiet machine);
 * `LEDGER_REQUESTS=1000` runs a quick one. The limits scale with it so both are reached.
 */
const REQUESTS = Number(process.env.LEDGER_REQUESTS ?? 10_000)
const IN_FLIGHT = 64
const TOKEN_LIMIT = REQUESTS * 16
/** On the Anthropic calls only, so the dollar rule binds early for them and the token rule later for all. */
const COST_LIMIT_USD = (REQUESTS * 5) / 1e6
const FROZEN = Date.UTC(2026, 5, 10, 12, 30)

const BEHAVIOURS: Behaviour[] = [
  'normal',
  'normal',
  'normal',
  'throw-before',
  'throw-mid',
  'drop',
  'pipe-drop',
  'destroy-end',
  'upstream-error',
]

function randomScript(rng: ReturnType<typeof random>): Script {
  const api = rng.pick(['chat', 'chat', 'responses', 'anthropic'] as const)
  const behaviour = rng.pick(BEHAVIOURS)
  const cutting = behaviour !== 'normal' && behaviour !== 'throw-before' && behaviour !== 'upstream-error'
  const stream = cutting || rng.next() < 0.7
  const deltas = rng.int(12)
  return {
    api,
    stream,
    deltas,
    deltaKind: rng.pick(['content', 'reasoning', 'tool'] as DeltaKind[]),
    end: rng.pick(['completed', 'incomplete', 'failed'] as ResponsesEnd[]),
    behaviour,
    cutAt: rng.int(deltas),
  }
}

type AppFactory = typeof expressApp

const FRAMEWORKS: [string, AppFactory][] = [
  ['express', expressApp],
  ['koa', koaApp],
  ['hono on @hono/node-server', honoApp],
]

describe.each(FRAMEWORKS)('ledger through %s', (name, appOf) => {
  it(`after ${REQUESTS} mixed requests the provider never billed more than llm-limit charged, and no rule admitted more than its limit`, async () => {
    const { charged, onCommit, byId } = chargedLedger()
    let admitted = 0
    const deniedBy = new Map<string | undefined, number>()
    const options: LimiterOptions = {
      store: memoryStore({ now: () => FROZEN }),
      rules: [
        { name: 'tokens', by: 'global', tokens: TOKEN_LIMIT, per: '1h', algorithm: 'fixed-window' },
        {
          name: 'usd',
          by: 'global',
          models: ['claude-*'],
          costUsd: COST_LIMIT_USD,
          per: '1h',
          algorithm: 'fixed-window',
        },
        { name: 'par', by: 'global', concurrent: 1_000_000 },
      ],
      validations: false,
      events: {
        onCommit,
        onDeny: (decision) => deniedBy.set(decision.rule, (deniedBy.get(decision.rule) ?? 0) + 1),
        onDecision: (decision) => {
          if (decision.allowed && decision.llm !== undefined) admitted++
        },
      },
    }
    let provider: FakeProvider | undefined
    const app = await appOf(options, (limiter) => {
      provider = new FakeProvider(() => limiter)
      return provider
    })
    const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT })
    const rng = random(20_261_205)
    const restoreError = console.error
    console.error = () => {}
    try {
      let next = 0
      const worker = async () => {
        while (next < REQUESTS) {
          const id = `r${next++}`
          const script = randomScript(rng)
          const body = bodyOf(script, id, 12 + rng.int(40))
          const contentType = rng.pick(['json', 'json', 'text', 'none', 'form'] as ContentType[])
          const client = rng.pick(['read', 'read', 'read', 'abort-before', 'abort-during'] as Client[])
          await send(app.port, agent, script, body, contentType, client, rng.int(6))
        }
      }
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
      await settled(
        () => admitted,
        () => charged.settled,
      )
      const peek = await app.limiter.check({
        method: 'POST',
        path: '/v1/messages',
        headers: {},
        ip: '127.0.0.1',
        body: { model: 'claude-3-5-haiku', messages: [], max_tokens: 0 },
      })
      const rule = (name: string) => peek.rules.find((state) => state.name === name)!
      const billed = provider!.totals()
      console.info(
        `[ledger ${name}] ${REQUESTS} requests, admitted ${admitted}, denied ${JSON.stringify([...deniedBy])}; billed ${billed.tokens} tokens / ${billed.costMicroUsd} µUSD, charged ${charged.tokens} / ${charged.costMicroUsd}`,
      )
      // Both budgets were reached, so both limits were tested.
      expect(deniedBy.get('tokens') ?? 0).toBeGreaterThan(0)
      expect(deniedBy.get('usd') ?? 0).toBeGreaterThan(0)
      expect(admitted).toBeGreaterThan(REQUESTS / 10)
      // What the store holds is exactly what was charged, never more than the limit, never less than billed.
      const usedTokens = TOKEN_LIMIT - rule('tokens').remaining
      expect(usedTokens).toBe(charged.tokens)
      expect(usedTokens).toBeLessThanOrEqual(TOKEN_LIMIT)
      expect(billed.tokens).toBeLessThanOrEqual(charged.tokens)
      // Dollar rules report dollars; the store counts whole micro-USD. Only Anthropic calls count here.
      const usd = rule('usd')
      const usedCost = Math.round((usd.limit - usd.remaining) * 1e6)
      let chargedCost = 0
      for (const event of byId.values())
        if (event.usage !== undefined && event.decision.model?.startsWith('claude'))
          chargedCost += event.costMicroUsd
      let billedCost = 0
      for (const bill of provider!.bills.values())
        if (bill.model.startsWith('claude'))
          billedCost += catalog.cost(bill.model, { inputTokens: bill.input, outputTokens: bill.output })
      expect(usedCost).toBe(chargedCost)
      expect(usedCost).toBeLessThanOrEqual(Math.round(COST_LIMIT_USD * 1e6))
      expect(billedCost).toBeLessThanOrEqual(chargedCost)
      // Zero leases held: the peek holds the only one.
      expect(rule('par').remaining).toBe(1_000_000 - 1)
    } finally {
      console.error = restoreError
      agent.destroy()
      await app.close()
    }
  }, 600_000)
})
