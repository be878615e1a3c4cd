import http from 'node:http'
import { type LimiterOptions, memoryStore } from '@llm-limit/core'
import { describe, expect, it } from 'vitest'
import {
  type Behaviour,
  bodyOf,
  type Client,
  chargedLedger,
  expressApp,
  FakeProvider,
  honoApp,
  koaApp,
  random,
  type Script,
  send,
  settled,
} from './ledger-apps.js'

const SEQUENCES = Number(process.env.LEASE_SEQUENCES ?? 1_000)
const IN_FLIGHT = 24
const CONCURRENT = 8
const FROZEN = Date.UTC(2026, 5, 10, 12, 30)

/** Every way a streamed answer can end: whole, dropped upstream, piped into an error, destroyed then ended, thrown. */
const ENDINGS: Behaviour[] = ['normal', 'drop', 'pipe-drop', 'destroy-end', 'throw-mid']

const FRAMEWORKS = [
  ['express', expressApp],
  ['koa', koaApp],
  ['hono on @hono/node-server', honoApp],
] as const

describe.each(FRAMEWORKS)('leases and cut streams through %s', (name, appOf) => {
  it(`${SEQUENCES} random endings leave zero leases and charge exactly input plus streamed output`, async () => {
    const { charged, byId, onCommit } = chargedLedger()
    let admitted = 0
    const options: LimiterOptions = {
      store: memoryStore({ now: () => FROZEN }),
      rules: [
        { name: 'par', by: 'global', concurrent: CONCURRENT },
        { name: 'tokens', by: 'global', tokens: 1e9, per: '1h', algorithm: 'fixed-window' },
      ],
      validations: false,
      events: {
        onCommit,
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
    const rng = random(19_003)
    const scripts = new Map<string, { script: Script; client: Client }>()
    const restoreError = console.error
    const restoreInfo = console.info
    console.error = () => {}
    console.info = () => {}
    try {
      let next = 0
      const worker = async () => {
        while (next < SEQUENCES) {
          const id = `s${next++}`
          const deltas = 1 + rng.int(10)
          // OpenAI's APIs, whose tokenizer is exact: a streamed delta of ' the' is one token.
          const script: Script = {
            api: rng.pick(['chat', 'responses'] as const),
            stream: true,
            deltas,
            deltaKind: rng.pick(['content', 'reasoning', 'tool'] as const),
            end: rng.pick(['completed', 'incomplete', 'failed'] as const),
            behaviour: rng.pick(ENDINGS),
            cutAt: rng.int(deltas),
          }
          const client = rng.pick(['read', 'read', 'abort-during'] as Client[])
          scripts.set(id, { script, client })
          await send(app.port, agent, script, bodyOf(script, id, 64), 'json', client, rng.int(deltas))
        }
      }
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
      await settled(
        () => admitted,
        () => charged.settled,
      )
      const peek = await app.limiter.check({ method: 'GET', path: '/peek', headers: {}, ip: '127.0.0.1' })
      // Zero leases held: the peek holds the only one.
      expect(peek.rules.find((rule) => rule.name === 'par')?.remaining).toBe(CONCURRENT - 1)
      let cut = 0
      const wrong: string[] = []
      for (const [id, bill] of provider!.bills) {
        const event = byId.get(id)
        const { script, client } = scripts.get(id)!
        if (script.behaviour !== 'normal' || client !== 'read') cut++
        const usage = event?.usage
        if (usage?.inputTokens !== bill.input || usage.outputTokens !== bill.output)
          wrong.push(
            `${id} ${JSON.stringify(script)} ${client}: billed ${bill.input}+${bill.output}, charged ${usage?.inputTokens}+${usage?.outputTokens}`,
          )
      }
      expect(wrong).toEqual([])
      expect(provider!.bills.size).toBe(admitted)
      expect(cut).toBeGreaterThan(admitted / 2)
      restoreInfo(`[leases ${name}] ${SEQUENCES} sequences, ${admitted} admitted, ${cut} cut, all exact`)
    } finally {
      console.error = restoreError
      console.info = restoreInfo
      agent.destroy()
      await app.close()
    }
  }, 120_000)
})
