import {
  type CatalogProvider,
  createEstimator,
  createLimiter,
  FALLBACK_PRICE,
  isLlmLimitError,
  type LimitRequest,
} from '@llm-limit/core'
import { findProvider } from '@pydantic/genai-prices'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { FIXTURES } from './prices-fixtures.js'

const chat = (model: string): LimitRequest => ({
  method: 'POST',
  path: '/v1/chat/completions',
  headers: {},
  ip: '127.0.0.1',
  body: { model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 1000 },
})

const usage = { inputTokens: 1_000_000, outputTokens: 1_000_000 }

afterEach(() => {
  vi.restoreAllMocks()
})

describe('an unknown model is reported once and priced as the docs say', () => {
  it('fallback (the default): priced at 15 / 75 USD per 1M, dearer than any listed non-pro model, and told once with a code', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const limiter = createLimiter({ rules: [{ by: 'global', costUsd: 100, per: 'day' }] })
    const first = await limiter.check(chat('mystery-model-9'))
    const second = await limiter.check(chat('mystery-model-9'))
    expect(first.allowed && second.allowed).toBe(true)
    expect(warn).toHaveBeenCalledTimes(1)
    expect(String(warn.mock.calls[0][0])).toMatch(
      /^\[llm-limit\] WARN_UNPRICED_MODEL: Model "mystery-model-9" has no price/,
    )
    expect(limiter.estimator.cost('mystery-model-9', usage)).toBe(90_000_000)
    expect(FALLBACK_PRICE).toEqual({ input: 15, output: 75 })
    // Never priced low: above the catalog's gpt-4o and claude-sonnet-4-5 for the same usage.
    expect(limiter.estimator.cost('mystery-model-9', usage)).toBeGreaterThan(
      limiter.estimator.cost('gpt-4o', usage),
    )
    expect(limiter.estimator.cost('mystery-model-9', usage)).toBeGreaterThan(
      limiter.estimator.cost('claude-sonnet-4-5', usage),
    )
    // A second unknown model is told about too, once.
    await limiter.check(chat('mystery-model-10'))
    expect(warn).toHaveBeenCalledTimes(2)
  })

  it('refuse: a 403 that names the model and the fix, reported once however often it is asked', async () => {
    const onUnknownModel = vi.fn()
    const limiter = createLimiter({
      rules: [{ by: 'global', costUsd: 100, per: 'day' }],
      pricing: { unknownModel: 'refuse', onUnknownModel },
    })
    for (let i = 0; i < 3; i++) {
      const decision = await limiter.check(chat('mystery-model-9'))
      expect(decision.allowed).toBe(false)
      expect(decision.status).toBe(403)
      expect(decision.reason).toBe('model_not_allowed')
      expect(decision.message).toMatch(/"mystery-model-9" has no known price/)
    }
    expect(onUnknownModel).toHaveBeenCalledTimes(1)
    expect(onUnknownModel.mock.calls[0][0]).toBe('mystery-model-9')
    // Known models pass.
    expect((await limiter.check(chat('gpt-4o'))).allowed).toBe(true)
  })

  it('a custom fallback price is used and checked at startup', () => {
    const estimator = createEstimator({
      pricing: { fallbackPrice: { input: 100, output: 400 }, onUnknownModel() {} },
    })
    expect(estimator.cost('mystery', usage)).toBe(500_000_000)
    expect(() => createEstimator({ pricing: { fallbackPrice: { input: -1, output: 1 } } })).toThrow(
      /`pricing.fallbackPrice.input` to be USD per 1M tokens/,
    )
    expect(() => createEstimator({ pricing: { unknownModel: 'cheap' as 'refuse' } })).toThrow(
      /Expected `pricing.unknownModel` to be 'fallback' or 'refuse', got "cheap"/,
    )
    try {
      createEstimator({ pricing: { catalog: 'online' as 'bundled' } })
      expect.unreachable()
    } catch (error) {
      expect(isLlmLimitError(error) && error.code).toBe('ERR_CONFIG')
    }
  })
})

/** A catalog in genai-prices' data.json format, as a later release or the published JSON would bring it. */
const UPDATED: CatalogProvider[] = [
  {
    id: 'openai',
    model_match: { starts_with: 'gpt-' },
    models: [
      {
        id: 'gpt-7-nova',
        match: { or: [{ equals: 'gpt-7-nova' }, { starts_with: 'gpt-7-nova-2027' }] },
        prices: {
          input_mtok: { base: 3, tiers: [{ start: 272_000, price: 6 }] },
          cache_read_mtok: 0.3,
          cache_write_mtok: 3.75,
          output_mtok: { base: 20, tiers: [{ start: 272_000, price: 30 }] },
        },
      },
      {
        id: 'gpt-7-mini',
        match: { equals: 'gpt-7-mini' },
        prices: [
          { prices: { input_mtok: 0.5, output_mtok: 2 } },
          {
            constraint: { type: 'start_date', start_date: '2026-01-01' },
            prices: { input_mtok: 0.4, output_mtok: 1.6 },
          },
          {
            constraint: { type: 'start_date', start_date: '2099-01-01' },
            prices: { input_mtok: 0.1, output_mtok: 0.1 },
          },
        ],
      },
    ],
  },
]

describe('a model added to the catalog by an update is priced without a code change', () => {
  it('the bundled catalog does not know gpt-7-nova; the updated one prices it, tiers and cache included', () => {
    const reported: string[] = []
    const bundled = createEstimator({ pricing: { onUnknownModel: (model) => reported.push(model) } })
    expect(bundled.cost('gpt-7-nova', usage)).toBe(90_000_000)
    expect(reported).toEqual(['gpt-7-nova'])

    const updated = createEstimator({
      pricing: { catalog: UPDATED, onUnknownModel: (model) => reported.push(model) },
    })
    expect(updated.cost('gpt-7-nova', { inputTokens: 1000, outputTokens: 100 })).toBe(1000 * 3 + 100 * 20)
    expect(updated.cost('gpt-7-nova-2027-01-15', { inputTokens: 300_000, outputTokens: 100 })).toBe(
      300_000 * 6 + 100 * 30,
    )
    expect(
      updated.cost('gpt-7-nova', {
        inputTokens: 10_000,
        cachedInputTokens: 6000,
        cacheWriteTokens: 3000,
        outputTokens: 0,
      }),
    ).toBe(1000 * 3 + 6000 * 0.3 + 3000 * 3.75)
    // Dated prices: the latest that has started, never one from the future.
    expect(updated.cost('gpt-7-mini', usage)).toBe(2_000_000)
    expect(reported).toEqual(['gpt-7-nova'])
  })

  it('`prices` still beats the catalog, per model', () => {
    const estimator = createEstimator({ prices: { 'gpt-4o': { input: 1, output: 2 } } })
    expect(estimator.cost('gpt-4o', usage)).toBe(3_000_000)
    expect(estimator.cost('gpt-4.1', usage)).toBe(10_000_000)
  })

  it('catalog: false prices from `prices` alone; everything else is unknown', () => {
    const reported: string[] = []
    const estimator = createEstimator({
      prices: { 'my-model': { input: 1, output: 1, tiers: [{ above: 100, input: 2 }] } },
      pricing: { catalog: false, onUnknownModel: (model) => reported.push(model) },
    })
    expect(estimator.cost('my-model-v2', { inputTokens: 100, outputTokens: 0 })).toBe(100)
    expect(estimator.cost('my-model-v2', { inputTokens: 101, outputTokens: 0 })).toBe(202)
    expect(estimator.cost('gpt-4o', usage)).toBe(90_000_000)
    expect(reported).toEqual(['gpt-4o'])
  })

  it('provider-prefixed names (openai/gpt-4o, google/gemini-2.5-pro) are priced at that provider', () => {
    const estimator = createEstimator()
    expect(estimator.cost('openai/gpt-4o', usage)).toBe(estimator.cost('gpt-4o', usage))
    expect(estimator.cost('google/gemini-2.5-pro', usage)).toBe(estimator.cost('gemini-2.5-pro', usage))
    expect(estimator.cost('models/gemini-2.5-pro', usage)).toBe(estimator.cost('gemini-2.5-pro', usage))
    expect(estimator.cost('vertex_ai/claude-opus-4-1', usage)).toBe(estimator.cost('claude-opus-4-1', usage))
    expect(estimator.cost('gemini-2.5-pro', usage)).not.toBe(estimator.cost('mystery/model', usage))
  })
})

describe('a catalog trimmed to the families you serve (docs/prices.md, Size)', () => {
  it('prices every fixture as the bundled catalog does', () => {
    const trimmed = ['openai', 'anthropic', 'google'].map((id) => {
      const provider = findProvider({ providerId: id }) as unknown as CatalogProvider
      return {
        id,
        model_match: provider.model_match,
        models: provider.models.map(({ id, match, prices }) => ({ id, match, prices })),
      }
    })
    // Through JSON, as the file written at build time would be read.
    const catalog = JSON.parse(JSON.stringify(trimmed)) as CatalogProvider[]
    expect(JSON.stringify(catalog).length).toBeLessThan(60_000)
    const bundled = createEstimator()
    const small = createEstimator({ pricing: { catalog } })
    for (const fixture of FIXTURES) {
      const model = fixture.model
      const usage = {
        inputTokens: 300_000,
        cachedInputTokens: 1000,
        cacheWriteTokens: 2000,
        outputTokens: 5000,
      }
      expect(small.cost(model, usage), model).toBe(bundled.cost(model, usage))
    }
  })
})
