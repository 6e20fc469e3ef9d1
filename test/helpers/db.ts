import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type Database, type DatabaseOptions, type OpenOptions, openDatabase } from '../../src/adapters/db/client.js';
import { PG_ADMIN_URL, postgresAvailable } from './services.js';

export type DbKind = 'pglite' | 'postgres';

/** The database kinds to run a suite against: PGlite always, PostgreSQL when reachable (or required). */
export const DB_KINDS: DbKind[] = postgresAvailable ? ['pglite', 'postgres'] : ['pglite'];

/** A fresh, empty PostgreSQL database on the machine's server; drop() removes it. */
export async function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** Options for a fresh database of that kind (in-memory PGlite, or a new PostgreSQL database). */
export async function freshDatabaseOptions(kind: DbKind): Promise<{ options: DatabaseOptions; cleanup(): Promise<void> }> {
  if (kind === 'pglite') return { options: { kind: 'pglite' }, cleanup: async () => {} };
  const created = await createPostgresDatabase();
  return { options: { kind: 'postgres', url: created.url, poolSize: 20 }, cleanup: () => created.drop() };
}

/** A migrated, fresh database of that kind; close() also drops a PostgreSQL one. */
export async function openTestDatabase(kind: DbKind, open: OpenOptions = {}): Promise<Database> {
  const { options, cleanup } = await freshDatabaseOptions(kind);
  const database = await openDatabase(options, open);
  await database.migrate();
  return {
    ...database,
    async close() {
      await database.close();
      await cleanup();
    },
  };
}
