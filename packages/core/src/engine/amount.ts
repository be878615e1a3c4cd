import type { Measure } from '../types.js'

/** Token and cost figures of one request: an estimate before the call, actual usage after. */
export interface Figures {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly costMicroUsd: number
}

/** How much of a rule's measure a request takes, in store units (1 for requests and leases). */
export function amountOf(measure: Measure, figures: Figures): number {
  switch (measure) {
    case 'requests':
    case 'concurrent':
      return 1
    case 'tokens':
      return figures.inputTokens + figures.outputTokens
    case 'inputTokens':
      return figures.inputTokens
    case 'outputTokens':
      return figures.outputTokens
    case 'costUsd':
      return figures.costMicroUsd
  }
}
