import { findProvider } from '@pydantic/genai-prices'
import { configError, shown } from '../errors.js'
import type { Price, PriceTier } from './prices.js'

/** A match rule of the catalog: how a model name is recognised (the genai-prices `match` format). */
export type CatalogMatch =
  | { readonly or: readonly CatalogMatch[] }
  | { readonly and: readonly CatalogMatch[] }
  | { readonly equals: string }
  | { readonly starts_with: string }
  | { readonly ends_with: string }
  | { readonly contains: string }
  | { readonly regex: string }

/** A price in the catalog: USD per 1M tokens, or a base price with tiers by prompt length. */
export type CatalogPriceValue =
  | number
  | { readonly base: number; readonly tiers: readonly { readonly start: number; readonly price: number }[] }

/** One model of the catalog, in the format of genai-prices' published `data.json`. */
export interface CatalogModel {
  /** The catalog's name of the model. */
  readonly id: string
  /** Which requested model names it prices. */
  readonly match: CatalogMatch
  /** Prices by key (`input_mtok`, `output_mtok`, `cache_read_mtok`, `cache_write_mtok`, …), or dated variants. */
  readonly prices:
    | Readonly<Record<string, CatalogPriceValue | undefined>>
    | readonly {
        readonly constraint?: { readonly type?: string; readonly start_date?: string }
        readonly prices: Readonly<Record<string, CatalogPriceValue | undefined>>
      }[]
}

/** One provider of the catalog, in the format of genai-prices' published `data.json`. */
export interface CatalogProvider {
  /** Provider id (`openai`, `anthropic`, `google`, …); also the prefix of names like `openai/gpt-4o`. */
  readonly id: string
  /** Which model names this provider serves, for names that carry no provider. */
  readonly model_match?: CatalogMatch
  /** The provider's models, first match wins. */
  readonly models: readonly CatalogModel[]
}

/** Options for pricing models (`pricing` of the limiter). */
export interface PricingOptions {
  /**
   * Where prices of models missing from `prices` come from: the catalog bundled with
   * `@pydantic/genai-prices`, a catalog in its `data.json` format (e.g. a newer one you downloaded),
   * or `false` for `prices` alone.
   * @default 'bundled'
   */
  catalog?: 'bundled' | readonly CatalogProvider[] | false
  /** What a model with no price gets: the fallback price, or a 403 refusal of the request. @default 'fallback' */
  unknownModel?: 'fallback' | 'refuse'
  /** The price of unknown models under `unknownModel: 'fallback'`. @default FALLBACK_PRICE (15 / 75 USD per 1M) */
  fallbackPrice?: Price
  /** Told once per unknown model (first 1,000 models). @default console.warn as `[llm-limit] WARN_UNPRICED_MODEL: …` */
  onUnknownModel?: (model: string, message: string) => void
}

/** The three provider families whose requests the core parses, searched first and in this order. */
const FAMILIES = ['openai', 'anthropic', 'google'] as const

/** A catalog as the lookup needs it: a provider by id, and the provider serving a bare model name. */
interface CatalogSource {
  byId(id: string): CatalogProvider | undefined
  byModel(model: string): CatalogProvider | undefined
}

/** The catalog to price from, checked once; undefined when `catalog` is false. */
export function catalogSource(catalog: PricingOptions['catalog']): CatalogSource | undefined {
  if (catalog === false) return undefined
  if (catalog === undefined || catalog === 'bundled')
    return {
      byId: (id) => findProvider({ providerId: id }) as CatalogProvider | undefined,
      byModel: (model) => findProvider({ modelId: model }) as CatalogProvider | undefined,
    }
  if (!Array.isArray(catalog))
    configError(
      `Expected \`pricing.catalog\` to be 'bundled', false or an array of providers in genai-prices' data.json format, got ${shown(catalog)}.`,
    )
  catalog.forEach((provider, index) => {
    if (typeof provider?.id !== 'string' || !Array.isArray(provider.models))
      configError(
        `Expected \`pricing.catalog[${index}]\` to be a provider like { id: 'openai', models: [...] }, got ${shown(provider)}.`,
      )
  })
  return {
    byId: (id) => catalog.find((provider) => provider.id === id),
    byModel: (model) =>
      catalog.find((provider) => provider.model_match && matches(provider.model_match, model)),
  }
}

/**
 * The catalog's price of `model`, or undefined: `provider/model` names are looked up at that
 * provider; bare names at OpenAI, Anthropic and Google, then at the provider whose names match;
 * a name with an unknown prefix (`models/…`) by its last part; a dated name (`-20250929`) is
 * retried in the catalog's dashed form (`-2025-09-29`).
 */
export function catalogPrice(
  source: CatalogSource,
  model: string,
  now: Date = new Date(),
): Price | undefined {
  const dashed = dashedDate(model)
  const found = findModel(source, model) ?? (dashed === model ? undefined : findModel(source, dashed))
  return found === undefined ? undefined : priceOf(found, now)
}

function findModel(source: CatalogSource, model: string): CatalogModel | undefined {
  const slash = model.indexOf('/')
  if (slash > 0) {
    const provider = source.byId(model.slice(0, slash).toLowerCase())
    const found = provider && inProvider(provider, model.slice(slash + 1))
    if (found) return found
  }
  for (const id of FAMILIES) {
    const provider = source.byId(id)
    const found = provider && inProvider(provider, model)
    if (found) return found
  }
  const provider = source.byModel(model)
  const found = provider && inProvider(provider, model)
  // `models/gemini-2.5-pro`, `vertex_ai/claude-…`: a path or an unknown prefix; the last part names the model.
  const last = model.lastIndexOf('/')
  return (
    found ?? (last >= 0 && last < model.length - 1 ? findModel(source, model.slice(last + 1)) : undefined)
  )
}

function inProvider(provider: CatalogProvider, model: string): CatalogModel | undefined {
  const lower = model.toLowerCase()
  for (const entry of provider.models)
    if (entry.match !== undefined && predicate(entry.match)(lower, model)) return entry
  return undefined
}

/** A compiled match rule: the lower-cased name for the string rules, the name as given for regexes. */
type Predicate = (lower: string, model: string) => boolean
/** Rules compiled once per rule object, so a lookup builds no RegExp and lower-cases no catalog string. */
const compiled = new WeakMap<CatalogMatch, Predicate>()

function predicate(rule: CatalogMatch): Predicate {
  let found = compiled.get(rule)
  if (found === undefined) {
    found = compile(rule)
    compiled.set(rule, found)
  }
  return found
}

function compile(rule: CatalogMatch): Predicate {
  if ('or' in rule) {
    const inner = rule.or.map(predicate)
    return (lower, model) => {
      for (const test of inner) if (test(lower, model)) return true
      return false
    }
  }
  if ('and' in rule) {
    const inner = rule.and.map(predicate)
    return (lower, model) => {
      for (const test of inner) if (!test(lower, model)) return false
      return true
    }
  }
  if ('equals' in rule) {
    const value = rule.equals.toLowerCase()
    return (lower) => lower === value
  }
  if ('starts_with' in rule) {
    const value = rule.starts_with.toLowerCase()
    return (lower) => lower.startsWith(value)
  }
  if ('ends_with' in rule) {
    const value = rule.ends_with.toLowerCase()
    return (lower) => lower.endsWith(value)
  }
  if ('contains' in rule) {
    const value = rule.contains.toLowerCase()
    return (lower) => lower.includes(value)
  }
  if ('regex' in rule) {
    try {
      const pattern = new RegExp(rule.regex)
      return (_lower, model) => pattern.test(model)
    } catch {
      // A bad regex in a hand-edited catalog matches nothing rather than failing every lookup.
      return () => false
    }
  }
  return () => false
}

/** Evaluates a catalog match rule; case-insensitive like genai-prices, a bad regex matches nothing. */
export function matches(rule: CatalogMatch, model: string): boolean {
  return predicate(rule)(model.toLowerCase(), model)
}

const DATED = /-(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)/g

function dashedDate(model: string): string {
  return model.replace(DATED, '-$1-$2-$3')
}

/** Catalog keys by the dimension they price; the first key present wins. */
const KEYS: readonly [keyof Omit<PriceTier, 'above'>, readonly string[]][] = [
  ['input', ['input_mtok']],
  ['output', ['output_mtok']],
  ['cachedInput', ['cache_read_mtok']],
  ['cacheWrite', ['cache_write_5m_mtok', 'cache_write_mtok']],
  ['cacheWrite1h', ['cache_write_1h_mtok']],
  ['reasoning', ['output_reasoning_mtok']],
]

/**
 * The entry's prices in force at `now`. Dated variants: the latest started. Time-of-day variants
 * (off-peak discounts) are skipped, so the full price is charged at every hour.
 */
function current(
  model: CatalogModel,
  now: Date,
): Readonly<Record<string, CatalogPriceValue | undefined>> | undefined {
  if (!Array.isArray(model.prices))
    return model.prices as Readonly<Record<string, CatalogPriceValue | undefined>>
  let chosen: Readonly<Record<string, CatalogPriceValue | undefined>> | undefined
  for (const variant of model.prices) {
    const constraint = variant.constraint
    if (constraint === undefined || constraint.type === undefined || constraint.type === 'start_date') {
      const start = constraint?.start_date === undefined ? 0 : Date.parse(constraint.start_date)
      if (!(start > now.getTime())) chosen = variant.prices
    }
  }
  return chosen
}

function priceOf(model: CatalogModel, now: Date): Price | undefined {
  const prices = current(model, now)
  if (prices === undefined) return undefined
  const base: Partial<Record<keyof Omit<PriceTier, 'above'>, number>> = {}
  const tiers = new Map<number, PriceTier>()
  for (const [dimension, keys] of KEYS) {
    const value = keys.map((key) => prices[key]).find((found) => found !== undefined)
    if (typeof value === 'number' && value >= 0) base[dimension] = value
    else if (typeof value === 'object' && value !== null && typeof value.base === 'number') {
      base[dimension] = value.base
      for (const tier of value.tiers) {
        const entry = tiers.get(tier.start) ?? { above: tier.start }
        tiers.set(tier.start, { ...entry, [dimension]: tier.price })
      }
    }
  }
  if (base.input === undefined && base.output === undefined) return undefined
  const price: Price = { ...base, input: base.input ?? 0, output: base.output ?? 0 }
  if (tiers.size > 0) price.tiers = fillTiers([...tiers.values()].sort((a, b) => a.above - b.above))
  return price
}

/** A dimension without a step at some threshold keeps the price of its own last lower step there. */
function fillTiers(tiers: PriceTier[]): PriceTier[] {
  for (let i = 1; i < tiers.length; i++)
    for (const [dimension] of KEYS)
      if (tiers[i][dimension] === undefined && tiers[i - 1][dimension] !== undefined)
        tiers[i] = { ...tiers[i], [dimension]: tiers[i - 1][dimension] }
  return tiers
}
