import { hashApiKey, type Limiter } from '@llm-limit/core'
import { llmLimit, llmUsage } from '@llm-limit/express'
import express, { type Express, type NextFunction, type Request, type Response } from 'express'
import type { Database } from './db.js'

/** Options of the example app. */
export interface AppOptions {
  /** Table of tenants (see `migrate`). @default 'tenants' */
  table?: string
  /** Bearer token the admin routes require. @default process.env.ADMIN_TOKEN */
  adminToken?: string
}

/**
 * A multi-tenant OpenAI-style proxy: each API key's tenant has its own monthly dollar budget, read from the
 * database (cached 30 s), a usage endpoint, and admin routes that raise a budget at once through `setLimit`.
 */
export function createApp(db: Database, options: AppOptions = {}): { app: Express; limiter: Limiter } {
  const table = options.table ?? 'tenants'
  const adminToken = options.adminToken ?? process.env.ADMIN_TOKEN
  const limit = llmLimit({
    identify: {
      apiKey: {
        rejectUnknown: true,
        resolve: async (keyHash) => {
          const [row] = await db.query<{ tenant: string; plan: string }>(
            `SELECT tenant, plan FROM ${table} WHERE key_hash = $1`,
            [keyHash],
          )
          return row && { user: row.tenant, plan: row.plan }
        },
      },
    },
    rules: [
      { name: 'tenant-rpm', by: 'user', requests: 60, per: '1m' },
      {
        name: 'tenant-month',
        by: 'user',
        costUsd: async (identity) => {
          const [row] = await db.query<{ budget: string }>(
            `SELECT max(budget_usd)::text AS budget FROM ${table} WHERE tenant = $1`,
            [identity.user],
          )
          return Number(row?.budget)
        },
        fallback: 1,
        per: 'month',
      },
    ],
    limitResolver: { ttlMs: 30_000, timeoutMs: 500 },
  })
  const app = express()
  app.disable('x-powered-by')
  app.get('/v1/usage', llmUsage(limit))
  app.use('/v1', limit)
  app.post('/v1/chat/completions', (req, res) => {
    // The offline upstream: a fixed answer in OpenAI's shape with real usage, so budgets are spent.
    const input = req.llmLimit?.estimate.inputTokens ?? 0
    res.json({
      id: 'chatcmpl-demo',
      object: 'chat.completion',
      model: req.body?.model ?? 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: input, completion_tokens: 2, total_tokens: input + 2 },
    })
  })

  const admin = express.Router()
  admin.use((req: Request, res: Response, next: NextFunction) => {
    if (!adminToken || req.headers.authorization !== `Bearer ${adminToken}`) {
      res.status(401).json({ error: { message: 'Admin token required.' } })
      return
    }
    next()
  })
  admin.use(express.json())
  // Raise (or lower) a tenant's budget: stored in the table for the future, and applied at once through the store.
  admin.post('/tenants/:tenant/budget', async (req, res, next) => {
    try {
      const value = Number(req.body?.budgetUsd)
      if (!(value > 0)) {
        res.status(400).json({ error: { message: 'Expected { "budgetUsd": a positive number }.' } })
        return
      }
      await db.query(`UPDATE ${table} SET budget_usd = $1 WHERE tenant = $2`, [value, req.params.tenant])
      await limit.limiter.setLimit({ user: req.params.tenant }, 'tenant-month', value)
      res.json(await limit.limiter.peek({ user: req.params.tenant }))
    } catch (error) {
      next(error)
    }
  })
  admin.get('/tenants/:tenant/usage', async (req, res, next) => {
    limit.limiter.peek({ user: req.params.tenant }).then((rules) => res.json(rules), next)
  })
  app.use('/admin', admin)
  return { app, limiter: limit.limiter }
}

/** Adds a tenant with one API key (stored as its hash). */
export async function addTenant(
  db: Database,
  key: string,
  tenant: string,
  budgetUsd: number,
  table = 'tenants',
) {
  await db.query(
    `INSERT INTO ${table} (key_hash, tenant, plan, budget_usd) VALUES ($1, $2, 'pro', $3) ON CONFLICT (key_hash) DO UPDATE SET tenant = $2, budget_usd = $3`,
    [hashApiKey(key), tenant, budgetUsd],
  )
}
