import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeShopify, startFakeShopify } from '../fakes/shopify.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { createPostgresDatabase } from '../helpers/db.js';
import { productShot } from '../helpers/images.js';
import { freePort, type Spawned, spawnEntry, waitFor } from '../helpers/process.js';
import { deleteRedisKeys } from '../helpers/redis-keys.js';
import { postgresAvailable, REDIS_TEST_URL, redisAvailable } from '../helpers/services.js';
import { API_KEY, API_SECRET, BACKEND_URL, FRONTEND_URL, SHOPIFY_ENV } from '../helpers/shopify.js';

/**
 * A 500-image batch over several catalogue pages (Shopify mode, the fake),
 * in production shape: the API here, two worker processes on BullMQ and
 * PostgreSQL, one of them killed with SIGKILL in the middle and replaced.
 * Every image must end terminal, every failure refunded once, every media
 * taken once, no media added, and the ledger must add up.
 */

const PRODUCTS = 100;
const PER_PRODUCT = 5;
const TOTAL = PRODUCTS * PER_PRODUCT;
const CONCURRENCY = 4;

interface Batch {
  id: string;
  status: string;
  counts: { total: number; queued: number; processing: number; processed: number; applied: number; failed: number; refunded: number };
}

describe.runIf(postgresAvailable && redisAvailable)('a 500-image batch with a worker killed in the middle', () => {
  const id = randomBytes(4).toString('hex');
  const queuePrefix = `cb-${id}`;
  const shop = `batch-${id}.myshopify.com`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'batch-'));
  let database: { url: string; drop(): Promise<void> };
  let fake: FakeShopify;
  let t: TestApp;
  let db: pg.Pool;
  let env: Record<string, string>;
  const workers: Spawned[] = [];

  async function startWorker(): Promise<Spawned> {
    const port = await freePort();
    const proc = spawnEntry('src/main/worker.ts', { ...env, WORKER_PORT: String(port) });
    workers.push(proc);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/ready`)).ok, 90_000, 'a worker').catch((err: unknown) => {
      throw new Error(`${String(err)}; its output: ${proc.output()}`);
    });
    return proc;
  }

  const rows = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => (await db.query<T>(text, values)).rows;
  const headers = async () => ({ authorization: `Bearer ${await fake.signSessionToken(shop)}` });
  const batch = async (batchId: string) => ((await t.app.inject({ url: `/batches/${batchId}`, headers: await headers() })).json() as { batch: Batch }).batch;

  beforeAll(async () => {
    [database, fake] = await Promise.all([
      createPostgresDatabase(),
      startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET, costLimit: 2000, restoreRate: 5000 }),
    ]);
    db = new pg.Pool({ connectionString: database.url, max: 2 });
    const shot = await productShot(48, 36);
    for (let p = 0; p < PRODUCTS; p++) {
      fake.catalogue.addProduct(shop, { title: `Product ${p}`, images: Array.from({ length: PER_PRODUCT }, (_, i) => ({ bytes: shot, alt: `P${p} #${i}` })) });
    }
    env = {
      ...SHOPIFY_ENV,
      HOST: '127.0.0.1',
      BACKEND_URL,
      FRONTEND_URL,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      DATABASE_URL: database.url,
      REDIS_URL: REDIS_TEST_URL,
      QUEUE_PREFIX: queuePrefix,
      QUEUE_LOCK_MS: '2000',
      WORKER_CONCURRENCY: String(CONCURRENCY),
      WORKER_SHUTDOWN_GRACE_S: '0',
      SHOPIFY_ADMIN_URL_TEMPLATE: fake.adminUrlTemplate,
      SHOPIFY_CDN_URL: fake.cdnUrl,
      SHOPIFY_MEDIA_POLL_MS: '20',
      CATALOGUE_BATCH_PAGE_SIZE: '20',
      FREE_CREDITS: '1000',
    };
    t = await createTestApp({ database: { kind: 'postgres', url: database.url }, env });
    await Promise.all([startWorker(), startWorker()]);
  }, 180_000);

  afterAll(async () => {
    for (const p of workers) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.allSettled(workers.map((w) => w.exited));
    await t?.close();
    await db?.end();
    await Promise.allSettled([fake?.close(), database?.drop()]);
    await deleteRedisKeys(REDIS_TEST_URL, `${queuePrefix}:*`);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('ends with every image terminal, failures refunded once, each media taken and applied once', async () => {
    const start = await t.app.inject({
      method: 'POST',
      url: '/batches',
      headers: await headers(),
      payload: { scope: { all: true }, operation: 'downscale', apply: 'replace' },
    });
    expect(start.statusCode).toBe(202);
    const batchId = (start.json() as { batch: Batch }).batch.id;

    // Kill worker 1 while the batch is in full flight (some applied, more to come), then replace it.
    await waitFor(async () => (await batch(batchId)).counts.applied >= 120, 180_000, '120 applied');
    workers[0]!.child.kill('SIGKILL');
    await workers[0]!.exited;
    await startWorker();

    const done = await waitFor(async () => {
      const b = await batch(batchId);
      return b.status === 'done' ? b : undefined;
    }, 300_000, 'the batch to finish');
    expect(done.counts.total).toBe(TOTAL);
    expect(done.counts.applied + done.counts.failed).toBe(TOTAL);
    expect(done.counts.refunded).toBe(done.counts.failed);

    const open = await rows<{ n: number }>(
      `select count(*)::int as n from media_runs r join images i on i.id = r.image_id where r.batch_id = $1 and i.status not in ('processed', 'failed')`,
      [batchId],
    );
    expect(open[0]!.n).toBe(0);
    const perMedia = await rows<{ n: number }>('select count(*)::int as n from media_runs where batch_id = $1 group by media_id having count(*) > 1', [batchId]);
    expect(perMedia).toHaveLength(0);
    const refunds = await rows<{ reference: string; n: number }>(
      `select reference, count(*)::int as n from credit_transactions where shop = $1 and reason = 'refund' group by reference`,
      [shop],
    );
    expect(refunds.every((r) => r.n === 1)).toBe(true);
    const ledger = await rows<{ sum: number; balance: number }>(
      'select (select sum(delta)::int from credit_transactions where shop = $1) as sum, (select balance from shop_credits where shop = $1) as balance',
      [shop],
    );
    expect(ledger[0]!.sum).toBe(ledger[0]!.balance);
    expect(ledger[0]!.balance).toBe(1000 - TOTAL + done.counts.failed);

    // No media added or lost; each written at most once more than the kill can explain.
    for (const product of fake.catalogue.products.values()) expect(product.media).toHaveLength(PER_PRODUCT);
    const versions = [...fake.catalogue.files.values()].map((f) => f.version);
    expect(versions.filter((v) => v === 2).length).toBeGreaterThanOrEqual(done.counts.applied - CONCURRENCY);
    expect(versions.filter((v) => v > 3)).toHaveLength(0);
    expect(fake.calls.maxRequestedCost).toBeLessThanOrEqual(2000);
  }, 600_000);
});
