import cluster from 'node:cluster'
import { llmLimit } from '@llm-limit/express'
import { redisStore } from '@llm-limit/redis'
import express from 'express'
import { Redis } from 'ioredis'

const port = Number(process.env.PORT ?? 8790)
const workers = Number(process.env.WORKERS ?? 4)
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

if (cluster.isPrimary) {
  let ready = 0
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', () => {
      if (++ready === workers)
        console.log(`llm-limit: ${workers} processes on http://127.0.0.1:${port} sharing ${redisUrl}`)
    })
  }
} else {
  // The options the docs recommend: never queue commands while disconnected.
  const client = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
  client.on('error', (error) => console.error(`redis: ${error.message}`))
  const app = express()
  app.use(
    llmLimit({
      store: redisStore({ client, prefix: 'example:' }),
      rules: [{ name: 'fleet-rpm', by: 'ip', requests: 10, per: '1m' }],
    }),
  )
  app.get('/', (_req, res) => {
    res.json({ pid: process.pid })
  })
  // Serve only once Redis is connected: with the offline queue off, earlier requests would be refused (503).
  client.once('ready', () => app.listen(port, '127.0.0.1', () => process.send?.('ready')))
}
