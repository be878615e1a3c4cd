export {
  type DurableObjectStoreOptions,
  durableObjectStore,
  type LimitNamespace,
} from './durable-object-store.js'
export { type LimitObjectState, type LimitObjectStorage, LlmLimitObject } from './limit-object.js'
