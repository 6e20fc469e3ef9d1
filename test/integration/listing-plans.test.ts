import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/adapters/db/client.js';
import { listImages } from '../../src/modules/images/images.js';
import { listTransactions } from '../../src/modules/ledger/ledger.js';
import { DB_KINDS, openTestDatabase } from '../helpers/db.js';

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

/**
 * The plans of the listing queries as the app sends them (captured from the
 * driver), on a shop with many rows: read in index order, never sorted. A
 * `desc` that does not match the index's `DESC NULLS LAST` makes PostgreSQL
 * sort every row of the shop for each page.
 */
describe.each(DB_KINDS)('listing plans on %s', (kind) => {
  let database: Database;
  let last: { query: string; params: unknown[] } | null = null;
  const shop = 'many.myshopify.com';
  const ROWS = 20_000;

  beforeAll(async () => {
    database = await openTestDatabase(kind, { onQuery: (query, params) => (last = { query, params }) });
    const db = database.db;
    await db.execute(sql`insert into shops (domain, installed_at) values (${shop}, now()), ('other.myshopify.com', now())`);
    for (const s of [shop, 'other.myshopify.com']) {
      await db.execute(sql`
        insert into images (id, shop, operation, status, filename, original_path, created_at)
        select gen_random_uuid(), ${s}, 'downscale', 'processed', 'p.jpg', ${s} || '/upload/x.jpg', now() - (g || ' seconds')::interval
        from generate_series(1, ${ROWS}) g`);
      await db.execute(sql`
        insert into credit_transactions (shop, delta, reason, reference, balance_after, created_at)
        select ${s}, 1, 'grant', 'r' || g, g, now() - (g || ' seconds')::interval from generate_series(1, ${ROWS}) g`);
    }
    await db.execute(sql`analyze`);
  }, 120_000);
  afterAll(() => database.close());

  async function planOf(run: () => Promise<unknown[]>): Promise<PlanNode[]> {
    last = null;
    const rows = await run();
    expect(rows.length).toBe(100);
    const { query, params } = last!;
    const client = (database.db as unknown as { $client: { query(q: string, p: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }> } }).$client;
    const res = await client.query(`explain (format json) ${query}`, params);
    const plan = res.rows[0]!['QUERY PLAN'];
    const json = (typeof plan === 'string' ? JSON.parse(plan) : plan) as Array<{ Plan: PlanNode }>;
    return nodes(json[0]!.Plan);
  }

  const expectIndexOrder = (plan: PlanNode[], index: string) => {
    expect(plan.map((n) => n['Node Type'])).not.toContain('Sort');
    expect(plan.some((n) => n['Index Name'] === index)).toBe(true);
  };

  it('GET /images: the first and a deep page read images_shop_created in order', async () => {
    const first = await listImages(database.db, shop, { limit: 100 });
    expectIndexOrder(await planOf(() => listImages(database.db, shop, { limit: 100 })), 'images_shop_created');
    const deep = first[99]!;
    expectIndexOrder(
      await planOf(() => listImages(database.db, shop, { limit: 100, after: { at: deep.at, id: deep.id } })),
      'images_shop_created',
    );
  });

  it('GET /credits/transactions reads credit_transactions_shop_created in order', async () => {
    expectIndexOrder(await planOf(() => listTransactions(database.db, shop, 100)), 'credit_transactions_shop_created');
  });
});
