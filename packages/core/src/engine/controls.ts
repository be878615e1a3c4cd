import type { Store, StoreBlock, StoreControls } from '../store/store.js'
import type { Identity, LimitRequest } from '../types.js'
import { groupOf, identityGroups } from './identity-key.js'
import type { RuleSet } from './rule-set.js'

/** The operator's controls that apply to one decision: a block, and limit overrides per rule (store units). */
export interface AppliedControls {
  readonly block: StoreBlock | undefined
  /** `limits[i]` overrides rule `i`, or is undefined. */
  readonly limits: readonly (number | undefined)[] | undefined
}

/**
 * Reads the operator's controls (setLimit overrides, blocks) from the store for each decision, so every process
 * applies a change from its next decision on. In-process stores answer synchronously, and a store with no
 * control at all costs one branch; other stores (Redis) are read only when `controls: true`.
 */
export class ControlsReader {
  /** Reading controls takes I/O on every decision. */
  readonly async: boolean

  constructor(
    private readonly store: Store,
    enabled: boolean,
  ) {
    this.async = store.readControlsSync === undefined && enabled && store.readControls !== undefined
  }

  /** True when decisions see the controls written through this store. */
  get active(): boolean {
    return this.store.readControlsSync !== undefined || this.async
  }

  /** The controls of a decision under `set`; undefined when there are none. */
  read(
    set: RuleSet,
    identity: Identity,
    request: LimitRequest,
    model: string | undefined,
  ): AppliedControls | undefined | Promise<AppliedControls | undefined> {
    const store = this.store
    if (store.readControlsSync !== undefined) {
      // The store knows without I/O when nobody set anything: no groups are built then.
      if (!store.hasControls?.()) return undefined
      const groups = groupsOf(set, identity, request, model)
      const controls = store.readControlsSync(groups.all)
      return controls === undefined ? undefined : applied(set, groups, controls)
    }
    if (!this.async || store.readControls === undefined) return undefined
    const groups = groupsOf(set, identity, request, model)
    return store.readControls(groups.all).then((controls) => applied(set, groups, controls))
  }
}

interface Groups {
  /** Distinct groups to read: the caller's own, then each rule's. */
  readonly all: string[]
  /** Index in `all` of each rule's group. */
  readonly ofRule: number[]
  /** How many of `all` are the caller's own groups (where blocks live). */
  readonly own: number
}

function groupsOf(
  set: RuleSet,
  identity: Identity,
  request: LimitRequest,
  model: string | undefined,
): Groups {
  const all = identityGroups(identity)
  const own = all.length
  const ofRule = set.rules.map((rule) => {
    const group = groupOf(rule, identity, request, model)
    const index = all.indexOf(group)
    if (index >= 0) return index
    all.push(group)
    return all.length - 1
  })
  return { all, ofRule, own }
}

function applied(
  set: RuleSet,
  groups: Groups,
  controls: readonly StoreControls[],
): AppliedControls | undefined {
  let block: StoreBlock | undefined
  for (let i = 0; i < groups.own; i++) block ??= controls[i]?.block
  let limits: (number | undefined)[] | undefined
  set.rules.forEach((rule, i) => {
    const value = controls[groups.ofRule[i]]?.limits[rule.name]
    if (value === undefined) return
    limits ??= new Array(set.rules.length).fill(undefined)
    limits[i] = value
  })
  return block === undefined && limits === undefined ? undefined : { block, limits }
}
