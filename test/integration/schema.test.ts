import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, queryRows } from '../../src/adapters/db/client.js';
import { DB_KINDS, openTestDatabase } from '../helpers/db.js';
import { postgresAvailable } from '../helpers/services.js';

/** The messages of an error and its causes (drizzle wraps the driver's error). */
async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    const parts: string[] = [];
    for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
      parts.push(String((e as Error).message), String((e as { constraint?: string }).constraint ?? ''));
    }
    return parts.join(' | ');
  }
  throw new Error('expected the statement to fail');
}

async function rows<T>(database: Database, query: ReturnType<typeof sql>): Promise<T[]> {
  return queryRows<T>(database.db, query);
}

/** Tables, columns, constraints and indexes of the public schema, normalised for comparison. */
async function describeSchema(database: Database) {
  const columns = await rows<{ table_name: string; column_name: string; data_type: string; is_nullable: string; column_default: string | null }>(
    database,
    sql`select table_name, column_name, data_type, is_nullable, column_default
        from information_schema.columns where table_schema = 'public' order by table_name, column_name`,
  );
  // NOT NULL constraints appear in pg_constraint from PostgreSQL 18 (PGlite) on: compare the others.
  const constraints = await rows<{ table_name: string; conname: string; contype: string; def: string }>(
    database,
    sql`select c.conrelid::regclass::text as table_name, c.conname, c.contype, pg_get_constraintdef(c.oid) as def
        from pg_constraint c join pg_namespace n on n.oid = c.connamespace
        where n.nspname = 'public' and c.contype in ('c', 'u', 'p', 'f') order by 1, 2`,
  );
  const indexes = await rows<{ tablename: string; indexname: string; indexdef: string }>(
    database,
    sql`select tablename, indexname, indexdef from pg_indexes where schemaname = 'public' order by 1, 2`,
  );
  return { columns, constraints, indexes };
}

describe.each(DB_KINDS)('schema on %s', (kind) => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(() => database.close());

  it('has every table of the design', async () => {
    const tables = await rows<{ table_name: string }>(
      database,
      sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`,
    );
    expect(tables.map((t) => t.table_name)).toEqual([
      'auto_seen_media',
      'catalogue_batches',
      'catalogue_media_index',
      'credit_pending',
      'credit_transactions',
      'demo_media',
      'demo_products',
      'idempotency_keys',
      'images',
      'jobs',
      'media_runs',
      'settings',
      'shop_credits',
      'shops',
      'webhook_events',
    ]);
  });

  it('migrating twice is harmless', async () => {
    await database.migrate();
    const counted = await rows<{ n: number }>(database, sql`select count(*)::int as n from shops`);
    expect(counted).toEqual([{ n: 0 }]);
  });

  it('refuses a negative balance, an unknown image status and a duplicate ledger reference', async () => {
    await database.db.execute(sql`insert into shops (domain) values ('a.myshopify.com')`);
    expect(
      await failure(database.db.execute(sql`insert into shop_credits (shop, balance) values ('a.myshopify.com', -1)`)),
    ).toMatch(/shop_credits_balance_non_negative/);
    expect(
      await failure(database.db.execute(sql`insert into images (id, shop, operation, status, filename, original_path)
        values (gen_random_uuid(), 'a.myshopify.com', 'upscale', 'done', 'f.png', 'a.myshopify.com/upload/x.png')`)),
    ).toMatch(/images_status/);
    expect(
      await failure(database.db.execute(sql`insert into images (id, shop, operation, filename, original_path)
        values (gen_random_uuid(), 'a.myshopify.com', 'sharpen', 'f.png', 'a.myshopify.com/upload/x.png')`)),
    ).toMatch(/images_operation/);
    await database.db.execute(sql`insert into credit_transactions (shop, delta, reason, reference, balance_after)
      values ('a.myshopify.com', 5, 'grant', 'r1', 5)`);
    expect(
      await failure(database.db.execute(sql`insert into credit_transactions (shop, delta, reason, reference, balance_after)
        values ('a.myshopify.com', 5, 'grant', 'r1', 10)`)),
    ).toMatch(/credit_transactions_shop_reason_reference/);
  });
});

describe.runIf(postgresAvailable)('PGlite and PostgreSQL', () => {
  it('have the same tables, columns, constraints and indexes after migration', async () => {
    const [lite, server] = await Promise.all([openTestDatabase('pglite'), openTestDatabase('postgres')]);
    try {
      const [a, b] = await Promise.all([describeSchema(lite), describeSchema(server)]);
      expect(a.columns.length).toBeGreaterThan(50);
      expect(a.columns).toEqual(b.columns);
      expect(a.constraints).toEqual(b.constraints);
      expect(a.indexes).toEqual(b.indexes);
    } finally {
      await Promise.all([lite.close(), server.close()]);
    }
  });
});
