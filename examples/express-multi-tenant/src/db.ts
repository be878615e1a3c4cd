import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'

/** The little the app needs from PostgreSQL: parameterised queries. */
export interface Database {
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>
  close(): Promise<void>
  /** 'postgres' (pg, DATABASE_URL) or 'pglite' (embedded, in memory). */
  readonly kind: 'postgres' | 'pglite'
}

/** Connects to DATABASE_URL with `pg`, or starts an embedded PGlite when no URL is given (runs offline). */
export async function openDatabase(url = process.env.DATABASE_URL): Promise<Database> {
  if (url) {
    const pool = new pg.Pool({ connectionString: url, max: 4 })
    return {
      kind: 'postgres',
      query: async <Row>(sql: string, params: unknown[] = []) =>
        (await pool.query(sql, params)).rows as Row[],
      close: () => pool.end(),
    }
  }
  const lite = new PGlite()
  return {
    kind: 'pglite',
    query: async <Row>(sql: string, params: unknown[] = []) => (await lite.query<Row>(sql, params)).rows,
    close: () => lite.close(),
  }
}

/** One row per API key: the key's SHA-256 (never the key), its tenant, plan and monthly budget in USD. */
export async function migrate(db: Database, table = 'tenants'): Promise<void> {
  await db.query(
    `CREATE TABLE IF NOT EXISTS ${table} (key_hash text PRIMARY KEY, tenant text NOT NULL, plan text NOT NULL, budget_usd numeric NOT NULL)`,
  )
}
