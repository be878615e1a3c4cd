import { addTenant, createApp } from './app.js'
import { migrate, openDatabase } from './db.js'

const db = await openDatabase()
await migrate(db)
await addTenant(db, 'sk-demo-acme', 'acme', 0.002)
await addTenant(db, 'sk-demo-globex', 'globex', 5)
const { app } = createApp(db, { adminToken: process.env.ADMIN_TOKEN ?? 'admin-demo' })
const port = Number(process.env.PORT ?? 3000)
app.listen(port, '127.0.0.1', () => {
  console.log(`express-multi-tenant on http://127.0.0.1:${port} (database: ${db.kind})`)
  console.log('  curl -s localhost:%d/v1/usage -H "authorization: Bearer sk-demo-acme"', port)
})
