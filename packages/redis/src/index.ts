export { CONSUME_LUA } from './consume-lua.js'
export { ADJUST_LUA } from './lua.js'
export {
  type FlexibleCallOptions,
  type FlexibleLimiter,
  type FlexibleResult,
  type FlexibleStoreOptions,
  rateLimiterFlexibleStore,
} from './rate-limiter-flexible-store.js'
export { hashTag, type RedisStore, type RedisStoreOptions, redisStore } from './redis-store.js'
