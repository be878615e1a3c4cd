import type { Identity, LimitRequest } from '../types.js'
import type { CompiledRule } from './compile-rule.js'
import { groupOf } from './identity-key.js'

/**
 * The caller's key in a set's cache: the groups its limit functions count, in order, joined so that
 * no two sequences of groups give the same key. Rules counting the same named identity as the
 * previous function rule share its group, found once.
 */
export function callerKey(
  rules: readonly CompiledRule[],
  identity: Identity,
  request: LimitRequest,
  model: string | undefined,
): string {
  let key = ''
  let first = true
  let lastBy: CompiledRule['by'] | undefined
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]
    if (rule.resolveLimit === undefined) continue
    // Which rules are skipped depends on the set alone, so each part of the key belongs to the same rule every time.
    if (rule.by === lastBy && typeof lastBy === 'string' && !rule.perModel) continue
    lastBy = rule.perModel ? undefined : rule.by
    const group = groupOf(rule, identity, request, model)
    // A length prefix keeps keys unambiguous whatever characters a custom `by` returns.
    key = first ? group : `${key.length}:${key}${group}`
    first = false
  }
  return key
}

/** The function rule whose group alone makes the caller's key (every other one is skipped), or undefined. */
export function soleKeyRule(rules: readonly CompiledRule[]): CompiledRule | undefined {
  let sole: CompiledRule | undefined
  let lastBy: CompiledRule['by'] | undefined
  for (const rule of rules) {
    if (rule.resolveLimit === undefined) continue
    if (rule.by === lastBy && typeof lastBy === 'string' && !rule.perModel) continue
    if (sole !== undefined) return undefined
    sole = rule
    lastBy = rule.perModel ? undefined : rule.by
  }
  return sole
}

/**
 * True when the caller's key determines the group of every rule of the set, constant ones included:
 * each counts the same identity (and model) as some function rule, or the whole service.
 */
export function keyNamesEveryGroup(rules: readonly CompiledRule[]): boolean {
  return rules.every(
    (rule) =>
      rule.resolveLimit !== undefined ||
      (rule.by === 'global' && !rule.perModel) ||
      rules.some(
        (other) =>
          other.resolveLimit !== undefined && other.by === rule.by && other.perModel === rule.perModel,
      ),
  )
}
