import { configError, shown } from '../errors.js'
import { catalogPrice, catalogSource, type PricingOptions } from './price-catalog.js'
import {
  type CompiledPrice,
  compilePrice,
  FALLBACK_PRICE,
  type Price,
  type PriceTable,
  resolvePrice,
} from './prices.js'

/** A model's price as the estimator holds it: compiled once, and whether any table knew the model. */
export interface ModelPrice {
  /** Integer rates for pricing calls. */
  readonly compiled: CompiledPrice
  /** False when the fallback price stands in for a model no table knows. */
  readonly known: boolean
  /** True when requests for this model are refused (unknown, under `unknownModel: 'refuse'`). */
  readonly refused: boolean
}

/** Thrown by `estimate()` for a model with no price under `pricing.unknownModel: 'refuse'`; the limiter answers 403. */
export class UnpricedModelError extends Error {
  constructor(readonly model: string) {
    super(
      `Model ${shown(model)} has no known price, and this server refuses unpriced models. Use a model from the price catalog, or ask the operator to add it to \`prices\`.`,
    )
    this.name = 'UnpricedModelError'
  }
}

/** Most unknown models reported one by one; past it, one last message says the rest go unreported. */
const REPORT_LIMIT = 1000

/**
 * Prices models from the user's table, then the catalog, then the fallback; reports each unknown
 * model once. Call it once per model and keep the result: a catalog lookup scans match rules.
 */
export function createModelPrices(
  prices: PriceTable | undefined,
  pricing: PricingOptions = {},
): (model: string | undefined) => ModelPrice {
  if (prices !== undefined) checkPrices(prices, 'prices')
  if (typeof pricing !== 'object' || pricing === null)
    configError(
      `Expected \`pricing\` to be an object like { unknownModel: 'refuse' }, got ${shown(pricing)}.`,
    )
  const unknownModel = pricing.unknownModel ?? 'fallback'
  if (unknownModel !== 'fallback' && unknownModel !== 'refuse')
    configError(`Expected \`pricing.unknownModel\` to be 'fallback' or 'refuse', got ${shown(unknownModel)}.`)
  const fallbackPrice = pricing.fallbackPrice ?? FALLBACK_PRICE
  if (pricing.fallbackPrice !== undefined) checkPrice(pricing.fallbackPrice, 'pricing.fallbackPrice')
  const source = catalogSource(pricing.catalog)
  const fallback: ModelPrice = { compiled: compilePrice(fallbackPrice), known: false, refused: false }
  const refused: ModelPrice = { ...fallback, refused: unknownModel === 'refuse' }
  const report =
    pricing.onUnknownModel ??
    ((_model: string, message: string) => console.warn(`[llm-limit] WARN_UNPRICED_MODEL: ${message}`))
  const reported = new Set<string>()

  return (model) => {
    if (model === undefined) return fallback
    const price = (prices && resolvePrice(model, prices)) ?? (source && catalogPrice(source, model))
    if (price !== undefined) return { compiled: compilePrice(price), known: true, refused: false }
    if (reported.size <= REPORT_LIMIT && !reported.has(model)) {
      reported.add(model)
      report(
        model,
        reported.size > REPORT_LIMIT
          ? `More than ${REPORT_LIMIT} models had no price; the rest are not reported one by one.`
          : unknownModel === 'refuse'
            ? `Model ${shown(model)} has no price in \`prices\` or the catalog, so its requests are refused (pricing.unknownModel: 'refuse'). Add it to \`prices\` to admit it.`
            : `Model ${shown(model)} has no price in \`prices\` or the catalog; it is priced at the fallback of $${fallbackPrice.input} input / $${fallbackPrice.output} output per 1M tokens. Add it to \`prices\` for its real price, or set pricing.unknownModel: 'refuse'.`,
      )
    }
    return refused
  }
}

/** Dearer than any model sold, per 1M tokens: a typo, such as a price per token given per 1M. */
const MAX_PRICE_USD = 100_000
const FIELDS = ['input', 'output', 'cachedInput', 'cacheWrite', 'cacheWrite1h', 'reasoning'] as const

/** Throws ERR_CONFIG for a price table whose prices are not USD per 1M tokens from 0 to MAX_PRICE_USD. */
function checkPrices(prices: PriceTable, option: string): void {
  if (typeof prices !== 'object' || prices === null)
    configError(`Expected \`${option}\` to be an object of prices by model, got ${shown(prices)}.`)
  for (const [model, price] of Object.entries(prices)) checkPrice(price, `${option}['${model}']`)
}

function checkPrice(price: Price, name: string): void {
  if (typeof price !== 'object' || price === null)
    configError(`Expected \`${name}\` to be { input, output } in USD per 1M tokens, got ${shown(price)}.`)
  checkFields(price, name, true)
  if (price.tiers === undefined) return
  if (!Array.isArray(price.tiers))
    configError(
      `Expected \`${name}.tiers\` to be an array like [{ above: 200000, input: 2.5 }], got ${shown(price.tiers)}.`,
    )
  price.tiers.forEach((tier, index) => {
    const at = `${name}.tiers[${index}]`
    if (typeof tier !== 'object' || tier === null || !Number.isInteger(tier.above) || tier.above < 0)
      configError(
        `Expected \`${at}\` to be { above: <prompt tokens>, … } with a whole number \`above\`, got ${shown(tier)}.`,
      )
    checkFields(tier, at, false)
  })
}

function checkFields(
  price: Partial<Record<(typeof FIELDS)[number], unknown>>,
  name: string,
  base: boolean,
): void {
  for (const field of FIELDS) {
    const value = price[field]
    if (value === undefined && !(base && (field === 'input' || field === 'output'))) continue
    if (typeof value !== 'number' || !(value >= 0 && value <= MAX_PRICE_USD))
      configError(
        `Expected \`${name}.${field}\` to be USD per 1M tokens from 0 to ${MAX_PRICE_USD}, got ${shown(value)}.`,
      )
  }
}
