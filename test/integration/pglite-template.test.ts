import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows } from '../../src/adapters/db/client.js';
import { MIGRATIONS_FOLDER } from '../../src/adapters/db/migrations-folder.js';

// The suite's global set-up (or the build) wrote the template these tests load.
const migrations = readdirSync(MIGRATIONS_FOLDER).filter((f) => f.endsWith('.sql')).length;
const dirs: string[] = [];
const tmpDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pglite-template-'));
  dirs.push(dir);
  return path.join(dir, 'db');
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const applied = async (db: Awaited<ReturnType<typeof openDatabase>>) =>
  (await queryRows<{ n: number }>(db.db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`))[0]!.n;

describe('PGlite template', () => {
  it('a new data dir starts migrated, and stays a database of its own', async () => {
    const dataDir = tmpDir();
    const db = await openDatabase({ kind: 'pglite', dataDir });
    expect(await applied(db)).toBe(migrations);
    await db.migrate(); // nothing left to apply
    await db.db.execute(sql`insert into shops (domain) values ('a.myshopify.com')`);
    await db.close();

    // Reopened: the same cluster, not a new copy of the template.
    const again = await openDatabase({ kind: 'pglite', dataDir });
    expect(await queryRows(again.db, sql`select domain from shops`)).toEqual([{ domain: 'a.myshopify.com' }]);
    await again.close();
    const other = await openDatabase({ kind: 'pglite', dataDir: tmpDir() });
    expect(await queryRows(other.db, sql`select domain from shops`)).toEqual([]);
    await other.close();
  });

  it('an in-memory database loads it too; without it PGlite runs initdb and nothing is migrated', async () => {
    const memory = await openDatabase({ kind: 'pglite' });
    expect(await applied(memory)).toBe(migrations);
    await memory.close();
    const bare = await openDatabase({ kind: 'pglite', dataDir: tmpDir() }, { template: false });
    const schemas = await queryRows<{ n: number }>(bare.db, sql`select count(*)::int as n from pg_namespace where nspname = 'drizzle'`);
    expect(schemas[0]!.n).toBe(0);
    await bare.close();
  });
});
