import { configError, shown } from '../errors.js'
import type { LimiterOptions, Priority, StoreErrorPolicy } from './options.js'
import {
  assertUniqueNames,
  type CompiledPlan,
  type CompiledRoute,
  compilePlans,
  compileRoutes,
  compileRules,
  DEFAULT_RULES,
  positiveInteger,
} from './resolve-options.js'
import { RuleSet } from './rule-set.js'
import { WaitQueue } from './wait-queue.js'

/** The limiter's options, validated and compiled once. */
export interface LimiterConfig {
  readonly shadow: boolean
  readonly policy: StoreErrorPolicy
  readonly rules: RuleSet
  readonly plans: Map<string, CompiledPlan>
  readonly routes: readonly CompiledRoute[]
  readonly queue: WaitQueue | undefined
}

/** Validates every limiter option except the identify, estimate and store ones, which validate themselves. */
export function resolveLimiterConfig(options: LimiterOptions): LimiterConfig {
  const leaseTtlMs = positiveInteger(options.leaseTtlMs, 600_000, 'leaseTtlMs')
  if (options.skip !== undefined && typeof options.skip !== 'function') {
    configError(
      `Expected \`skip\` to be a function of the request returning true to skip it, got ${shown(options.skip)}.`,
    )
  }
  if (options.mode !== undefined && options.mode !== 'enforce' && options.mode !== 'shadow') {
    configError(`Expected \`mode\` to be 'enforce' or 'shadow', got ${shown(options.mode)}.`)
  }
  const policy = options.onStoreError ?? 'fail-closed'
  if (
    policy !== 'fail-open' &&
    policy !== 'fail-closed' &&
    !(typeof policy === 'object' && policy?.insurance)
  ) {
    configError(
      `Expected \`onStoreError\` to be 'fail-open', 'fail-closed' or { insurance: memoryStore() }, got ${shown(policy)}.`,
    )
  }
  const rules = compileRules(options.rules ?? DEFAULT_RULES, 'rules', leaseTtlMs)
  const plans = compilePlans(options.plans, leaseTtlMs)
  const routes = compileRoutes(options.routes, leaseTtlMs)
  for (const plan of plans.values()) {
    assertUniqueNames([...rules, ...plan.rules], `rules and plans.${plan.name}.rules`)
    for (const route of routes)
      if (route.rules)
        assertUniqueNames([...route.rules, ...plan.rules], `routes and plans.${plan.name}.rules`)
  }
  if (options.downgrade !== undefined) {
    for (const [from, to] of Object.entries(options.downgrade)) {
      if (typeof to !== 'string' || to === from)
        configError(`Expected \`downgrade['${from}']\` to name a different, cheaper model.`)
    }
  }
  const queue = resolveQueue(options.queue)
  return { shadow: options.mode === 'shadow', policy, rules: new RuleSet(rules), plans, routes, queue }
}

/** A queued request waits at most this long: its client has long given up by then. */
const MAX_QUEUE_WAIT_MS = 3_600_000

function resolveQueue(options: LimiterOptions['queue']): WaitQueue | undefined {
  if (options === undefined) return undefined
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    configError(
      `Expected \`queue\` to be an object like { maxWaitMs: 1000, maxSize: 1000 }, got ${shown(options)}.`,
    )
  }
  const maxSize = positiveInteger(options.maxSize, 1000, 'queue.maxSize')
  const caps = options.maxPerPriority ?? {}
  const cap = (priority: Priority) =>
    positiveInteger(caps[priority], maxSize, `queue.maxPerPriority.${priority}`)
  return new WaitQueue({
    maxWaitMs: positiveInteger(options.maxWaitMs, 1000, 'queue.maxWaitMs', MAX_QUEUE_WAIT_MS),
    maxSize,
    maxPerPriority: { critical: cap('critical'), high: cap('high'), normal: cap('normal'), low: cap('low') },
  })
}
