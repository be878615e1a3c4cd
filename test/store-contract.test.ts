import { memoryStore } from '@llm-limit/core'
import { redisStore } from '@llm-limit/redis'
import { fakeClock, storeContract } from '@llm-limit/testing'
import { afterAll, beforeAll } from 'vitest'
import { type RedisProcess, ready, redisClient, startCluster, startRedis } from './support/redis-servers.js'

storeContract('memory', async () => {
  const clock = fakeClock()
  return {
    store: memoryStore({ now: clock.now }),
    advance: async (ms) => {
      clock.advance(ms)
    },
  }
})

let standalone: RedisProcess
let cluster: Awaited<ReturnType<typeof startCluster>>
beforeAll(async () => {
  ;[standalone, cluster] = await Promise.all([startRedis(), startCluster()])
})
afterAll(async () => {
  await standalone?.stop()
  await cluster?.stop()
})

const realTime = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms + 5))

storeContract('redis standalone', async () => {
  const client = redisClient(standalone.port)
  await ready(client)
  return { store: redisStore({ client, localDenyCache: false }), advance: realTime }
})

storeContract('redis cluster', async () => {
  const client = cluster.client()
  await ready(client)
  return { store: redisStore({ client, localDenyCache: false }), advance: realTime }
})
