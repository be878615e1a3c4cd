import type { StoreAlgorithm } from '../store/store.js'
import type { AlgorithmImpl } from './algorithm.js'
import { concurrency } from './concurrency.js'
import { fixedWindow } from './fixed-window.js'
import { slidingWindow } from './sliding-window.js'
import { tokenBucket } from './token-bucket.js'

/** The algorithm implementation for each store algorithm name. */
export const ALGORITHMS: Readonly<Record<StoreAlgorithm, AlgorithmImpl>> = {
  'token-bucket': tokenBucket,
  'sliding-window': slidingWindow,
  'fixed-window': fixedWindow,
  concurrency,
}
