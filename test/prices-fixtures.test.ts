import { createEstimator, usageFromJson } from '@llm-limit/core'
import { calcPrice, extractUsage, findProvider, type Provider } from '@pydantic/genai-prices'
import { describe, expect, it } from 'vitest'
import { CATALOG_VERSION, FIXTURES } from './prices-fixtures.js'

const estimator = createEstimator()

describe(`real provider usage prices to the micro-dollar (published prices, checked against ${CATALOG_VERSION})`, () => {
  it.each(FIXTURES)('$name', (fixture) => {
    const usage = usageFromJson(fixture.response)
    expect(usage).toBeDefined()
    if (usage === undefined) return
    // The model the provider reports serving (a dated snapshot) is the one billed.
    const charged = estimator.cost(usage.model ?? fixture.model, usage)
    expect(charged, fixture.bill).toBe(fixture.expectedMicroUsd)
    // Each fixture names a source for each price it uses.
    for (const [, source] of Object.values(fixture.prices)) expect(source).toMatch(/^https:\/\//)
  })

  it.each(FIXTURES)('genai-prices itself, from the raw response, bills the same: $name', (fixture) => {
    const provider = findProvider({ providerId: fixture.provider }) as Provider
    const extracted = extractUsage(provider, fixture.response, fixture.flavor)
    const price = calcPrice(extracted.usage, fixture.model, { provider })
    expect(price).not.toBeNull()
    // Its float total, to within a thousandth of a micro-dollar.
    expect(Math.abs((price?.total_price ?? 0) * 1e6 - fixture.expectedMicroUsd)).toBeLessThan(1e-3)
  })

  it('negative control: a naive reading (no write prices, no thoughts, no tiers, -pro by prefix) misprices 10 of them', () => {
    const mispriced = FIXTURES.filter(
      (fixture) => Math.round(fixture.naiveMicroUsd) !== fixture.expectedMicroUsd,
    )
    expect(mispriced.length).toBe(10)
    // And undercharges where it matters: every -pro model, the long prompts and the cache writes.
    const under = FIXTURES.filter((fixture) => fixture.naiveMicroUsd < fixture.expectedMicroUsd)
    expect(under.map((fixture) => fixture.name)).toHaveLength(9)
  })
})

describe('the reservation prices the tier the prompt lands in', () => {
  const gemini = (text: string) => ({
    api: 'gemini-generate-content' as const,
    model: 'gemini-2.5-pro',
    stream: false,
    n: 1,
    maxOutputTokens: 1000,
    body: { contents: [{ role: 'user', parts: [{ text }] }] },
  })

  it('a prompt above 200k tokens reserves at the long-context price', () => {
    const short = estimator.estimate(gemini('hello '.repeat(1000)))
    const long = estimator.estimate(gemini('hello '.repeat(200_000)))
    expect(long.inputTokens).toBeGreaterThan(200_000)
    expect(short.costMicroUsd).toBe(Math.ceil(short.inputTokens * 1.25 + 1000 * 10))
    expect(long.costMicroUsd).toBe(Math.ceil(long.inputTokens * 2.5 + 1000 * 15))
  })
})
