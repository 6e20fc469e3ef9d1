import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PGlite, type QueryOptions, type Transaction, types } from '@electric-sql/pglite';
import { type SQL, sql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import { MIGRATIONS_FOLDER as migrationsFolder } from './migrations-folder.js';
import { pgliteTemplatePath, pgliteTemplateTarball, seedFromPgliteTemplate } from './pglite-template.js';
import * as schema from './schema.js';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
/** A transaction handle; repositories accept Db or Tx so the caller decides what is atomic. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

/**
 * Rows of a raw SQL query. Both drivers answer `{ rows }`; drizzle types the
 * result per driver, so the one cast lives here.
 */
export async function queryRows<T>(db: DbOrTx, query: SQL): Promise<T[]> {
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

export interface Database {
  readonly kind: 'pglite' | 'postgres';
  readonly db: Db;
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type DatabaseOptions =
  | { kind: 'pglite'; dataDir?: string }
  | { kind: 'postgres'; url: string; poolSize?: number };

export interface OpenOptions {
  /** Called once per SQL statement the app sends (a metric; tests count statements and read their plans). */
  onQuery?: (query: string, params: unknown[]) => void;
  /** false: a new PGlite cluster runs initdb instead of loading the build's template (making the template). */
  template?: boolean;
}

const keepText = (value: string) => value;
/** The parsers drizzle hands PGlite with every query: dates and intervals stay text, drizzle maps them. */
const DRIZZLE_PGLITE_PARSERS = Object.fromEntries(
  [types.TIMESTAMP, types.TIMESTAMPTZ, types.INTERVAL, types.DATE, 1231, 1115, 1185, 1187, 1182].map((oid) => [oid, keepText]),
);

/**
 * PGlite's PostgreSQL keeps its buffers in the WebAssembly heap, which never shrinks: the
 * default 128 MB of shared buffers is most of the embedded API's memory. An embedded
 * catalogue (tens of MB) fits in 16 MB; the OS page cache holds the rest of the files.
 */
const PGLITE_START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB', '-c', 'wal_buffers=1MB'];

/**
 * PGlite merges per-query `parsers` into its ~300 defaults on every query (about 0.1 ms each).
 * The client is built with drizzle's parsers once, and this view drops the per-query copy
 * drizzle sends (from queries and from transactions' queries). A Proxy keeps `instanceof PGlite`.
 */
function withParsersOnce<T extends PGlite | Transaction>(client: T): T {
  const strip = (options?: QueryOptions) => (options?.parsers ? { ...options, parsers: undefined } : options);
  return new Proxy(client, {
    get(target, prop) {
      if (prop === 'query') {
        return (query: string, params?: unknown[], options?: QueryOptions) => target.query(query, params, strip(options));
      }
      if (prop === 'transaction' && 'transaction' in target) {
        return <R>(fn: (tx: Transaction) => Promise<R>) => target.transaction((tx) => fn(withParsersOnce(tx)));
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

// Any constant shared by every process of the app: serialises concurrent migrations.
const MIGRATION_LOCK_ID = 72_011_501;

export async function openDatabase(options: DatabaseOptions, open: OpenOptions = {}): Promise<Database> {
  const logger = open.onQuery ? { logQuery: open.onQuery } : false;
  if (options.kind === 'pglite') {
    if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
    // A new cluster starts as a copy of the build's template (pglite-template.ts), or PGlite runs initdb.
    const useTemplate = open.template !== false;
    let template: Blob | undefined;
    if (!options.dataDir) template = useTemplate ? pgliteTemplateTarball() : undefined;
    else if (useTemplate && !existsSync(path.join(options.dataDir, 'PG_VERSION'))) seedFromPgliteTemplate(options.dataDir);
    // The options form: `new PGlite(undefined, options)` (in memory) would ignore the options.
    const client = new PGlite({
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      parsers: DRIZZLE_PGLITE_PARSERS,
      startParams: PGLITE_START_PARAMS,
      ...(template ? { loadDataDir: template } : {}),
    });
    await client.waitReady;
    const db = drizzlePglite(withParsersOnce(client), { schema, logger }) as unknown as Db;
    return {
      kind: 'pglite',
      db,
      migrate: () => migratePglite(drizzlePglite(client), { migrationsFolder }),
      ping: async () => {
        await db.execute(sql`select 1`);
      },
      close: () => client.close(),
    };
  }

  const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 10 });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const db = drizzlePg(pool, { schema, logger }) as unknown as Db;
  return {
    kind: 'postgres',
    db,
    migrate: async () => {
      // One connection holds the advisory lock and runs the migrations, so API
      // and worker processes starting together never migrate at the same time.
      const client = await pool.connect();
      try {
        await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
        await migratePg(drizzlePg(client), { migrationsFolder });
      } finally {
        await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => {});
        client.release();
      }
    },
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    close: () => pool.end(),
  };
}

/** Writes the template new embedded databases start from (pglite-template.ts): a migrated cluster and its tarball. */
export async function writePgliteTemplate(): Promise<string> {
  const target = pgliteTemplatePath();
  // Built aside and renamed: a concurrent writer or a crash never leaves half a template.
  const tmp = `${target}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const database = await openDatabase({ kind: 'pglite', dataDir: tmp }, { template: false });
  await database.migrate();
  const client = (database.db as unknown as { $client: PGlite }).$client;
  await client.exec('checkpoint'); // the tarball is the files as they are: the migrations must be in them, not only in the WAL
  const dump = await client.dumpDataDir('gzip');
  await database.close();
  writeFileSync(`${tmp}.tar.gz`, Buffer.from(await dump.arrayBuffer()));
  rmSync(target, { recursive: true, force: true });
  renameSync(tmp, target);
  renameSync(`${tmp}.tar.gz`, `${target}.tar.gz`);
  return target;
}
