import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { addTenant, createApp } from '../src/app.js'
import { type Database, migrate, openDatabase } from '../src/db.js'

// PostgreSQL runs on 127.0.0.1:5432 here (trust auth, database `test`); PGlite needs nothing.
const POSTGRES = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const opened: { db: Database; server: Server; table: string }[] = []
afterAll(async () => {
  for (const { db, server, table } of opened) {
    server.close()
    await db.query(`DROP TABLE IF EXISTS ${table}`)
    await db.close()
  }
})

describe.each([
  ['pglite', undefined],
  ['postgres', POSTGRES],
])('express-multi-tenant on %s', (kind, url) => {
  it('limits each tenant by its budget in the database, answers its usage, and raises it from the admin route', async () => {
    const db = await openDatabase(url ?? '')
    expect(db.kind).toBe(kind)
    const table = `tenants_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
    await migrate(db, table)
    await addTenant(db, 'sk-acme', 'acme', 0.002, table)
    const { app } = createApp(db, { table, adminToken: 'secret' })
    const server = app.listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    opened.push({ db, server, table })
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const tenant = { authorization: 'Bearer sk-acme', 'content-type': 'application/json' }
    const chat = (maxTokens: number) =>
      fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: tenant,
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          max_tokens: maxTokens,
          messages: [{ role: 'user', content: 'Hi' }],
        }),
      })

    expect((await chat(100)).status).toBe(200)
    // $0.006 of output can never fit a $0.002 budget: 413, not worth retrying.
    const denied = await chat(10_000)
    expect(denied.status).toBe(413)
    const usage = await (await fetch(`${base}/v1/usage`, { headers: tenant })).json()
    expect(usage.limits.find((rule: { name: string }) => rule.name === 'tenant-month')).toMatchObject({
      limit: 0.002,
    })
    expect(usage.limits.find((rule: { name: string }) => rule.name === 'tenant-rpm')).toMatchObject({
      used: 1,
    })
    expect((await fetch(`${base}/v1/usage`, { headers: { authorization: 'Bearer sk-nobody' } })).status).toBe(
      401,
    )

    const raise = (token: string) =>
      fetch(`${base}/admin/tenants/acme/budget`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ budgetUsd: 1 }),
      })
    expect((await raise('wrong')).status).toBe(401)
    const raised = await raise('secret')
    expect(raised.status).toBe(200)
    const [row] = await db.query<{ budget: string }>(`SELECT budget_usd::text AS budget FROM ${table}`)
    expect(Number(row.budget)).toBe(1)
    expect((await chat(10_000)).status).toBe(200)
    const after = await (await fetch(`${base}/v1/usage`, { headers: tenant })).json()
    expect(after.limits.find((rule: { name: string }) => rule.name === 'tenant-month')).toMatchObject({
      limit: 1,
    })
  })
})
