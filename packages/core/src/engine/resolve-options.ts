import { configError, shown } from '../errors.js'
import { routePath } from '../llm/index.js'
import type { Rule } from '../types.js'
import { type CompiledRule, compileRule } from './compile-rule.js'
import type { LimiterOptions, Plan, Priority } from './options.js'

/** Rules of `llmLimit()` with no options: generous per-IP and per-API-key limits. */
export const DEFAULT_RULES: readonly Rule[] = Object.freeze([
  { name: 'ip-requests', by: 'ip', requests: 60, per: '1m', burst: 20 },
  { name: 'key-requests', by: 'apiKey', requests: 120, per: '1m' },
  { name: 'key-tokens', by: 'apiKey', tokens: 200_000, per: '1m' },
])

const PRIORITIES: readonly Priority[] = ['critical', 'high', 'normal', 'low']

/** A plan with its rules compiled. */
export interface CompiledPlan {
  readonly name: string
  readonly rules: readonly CompiledRule[]
  readonly models: readonly string[] | undefined
  readonly maxContextTokens: number | undefined
  readonly priority: Priority
}

/** A route override with its rules compiled. */
export interface CompiledRoute {
  readonly method: string | undefined
  readonly path: string
  readonly prefix: boolean
  readonly skip: boolean
  readonly rules: readonly CompiledRule[] | undefined
}

/** Compiles a list of rules, rejecting duplicate names (they would share counters). */
export function compileRules(rules: unknown, option: string, leaseTtlMs: number): CompiledRule[] {
  if (!Array.isArray(rules)) configError(`Expected \`${option}\` to be an array of rules.`)
  const compiled = rules.map((rule: Rule, index) => compileRule(rule, `${option}[${index}]`, leaseTtlMs))
  assertUniqueNames(compiled, option)
  return compiled
}

/** Throws when two rules of one request would share a name. */
export function assertUniqueNames(rules: readonly CompiledRule[], option: string): void {
  const seen = new Set<string>()
  for (const rule of rules) {
    if (seen.has(rule.name)) {
      configError(`Two rules in \`${option}\` are named '${rule.name}'; give each rule a unique \`name\`.`)
    }
    seen.add(rule.name)
  }
}

/** Compiles and validates `plans`. */
export function compilePlans(plans: LimiterOptions['plans'], leaseTtlMs: number): Map<string, CompiledPlan> {
  const compiled = new Map<string, CompiledPlan>()
  if (plans === undefined) return compiled
  if (typeof plans !== 'object' || plans === null)
    configError('Expected `plans` to be an object of plans by name.')
  for (const [name, plan] of Object.entries(plans as Record<string, Plan>)) {
    const option = `plans.${name}`
    const priority = plan.priority ?? 'normal'
    if (!PRIORITIES.includes(priority)) {
      configError(
        `Expected \`${option}.priority\` to be one of ${PRIORITIES.join(', ')}, got ${shown(priority)}.`,
      )
    }
    const max = plan.maxContextTokens
    if (max !== undefined && (!Number.isInteger(max) || max < 1)) {
      configError(`Expected \`${option}.maxContextTokens\` to be a positive whole number, got ${shown(max)}.`)
    }
    if (plan.models !== undefined && (!Array.isArray(plan.models) || plan.models.length === 0)) {
      configError(`Expected \`${option}.models\` to be a non-empty array of model names.`)
    }
    const rules = compileRules(plan.rules ?? [], `${option}.rules`, leaseTtlMs)
    compiled.set(name, { name, rules, models: plan.models, maxContextTokens: max, priority })
  }
  return compiled
}

/** Compiles `routes`, keyed by `'METHOD /path'` or `'/path'`; a trailing `*` matches a prefix. */
export function compileRoutes(routes: LimiterOptions['routes'], leaseTtlMs: number): CompiledRoute[] {
  if (routes === undefined) return []
  return Object.entries(routes).map(([pattern, route]) => {
    const match = /^(?:([A-Z]+)\s+)?(\/\S*)$/.exec(pattern.trim())
    if (!match)
      configError(
        `Expected the key of \`routes\` to look like 'POST /v1/chat/completions' or '/v1/*', got '${pattern}'.`,
      )
    const path = match[2]
    const prefix = path.endsWith('*')
    return {
      method: match[1],
      path: prefix ? path.slice(0, -1).toLowerCase() : routePath(path),
      prefix,
      skip: route.skip === true,
      rules:
        route.rules === undefined
          ? undefined
          : compileRules(route.rules, `routes['${pattern}'].rules`, leaseTtlMs),
    }
  })
}

/** The first route override matching the request, if any. */
export function matchRoute(
  routes: readonly CompiledRoute[],
  method: string,
  path: string,
): CompiledRoute | undefined {
  const verb = method.toUpperCase()
  const compared = routePath(path)
  for (const route of routes) {
    if (route.method !== undefined && route.method !== verb) continue
    if (route.prefix ? compared.startsWith(route.path) : compared === route.path) return route
  }
  return undefined
}

/** Checks a positive whole-number option. */
export function positiveInteger(
  value: unknown,
  fallback: number,
  option: string,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? 'a positive whole number' : `a whole number from 1 to ${max}`
    configError(`Expected \`${option}\` to be ${range}, got ${shown(value)}.`)
  }
  return value
}
