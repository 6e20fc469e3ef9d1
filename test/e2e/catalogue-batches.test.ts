import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/adapters/db/client.js';
import { type FakeShopify, startFakeShopify } from '../fakes/shopify.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { productShot } from '../helpers/images.js';
import { waitFor } from '../helpers/process.js';
import { API_KEY, API_SECRET, BACKEND_URL, FRONTEND_URL, SHOPIFY_ENV } from '../helpers/shopify.js';

interface Batch {
  id: string;
  status: string;
  stop_reason: string | null;
  counts: { total: number; queued: number; processing: number; processed: number; applied: number; failed: number; refunded: number };
}

/** Batches in Shopify mode (the fake), embedded queue: out of credits mid-batch, resume, cancel, list. */
describe('catalogue batches', () => {
  let fake: FakeShopify;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET });
  });
  afterAll(async () => {
    for (const t of apps) await t.close();
    await fake?.close();
  });

  async function app(jobs: boolean, credits: number) {
    const t = await createTestApp({
      jobs,
      env: {
        ...SHOPIFY_ENV,
        SHOPIFY_ADMIN_URL_TEMPLATE: fake.adminUrlTemplate,
        SHOPIFY_CDN_URL: fake.cdnUrl,
        SHOPIFY_MEDIA_POLL_MS: '20',
        CATALOGUE_BATCH_PAGE_SIZE: '2',
        BACKEND_URL,
        FRONTEND_URL,
        FREE_CREDITS: String(credits),
      },
    });
    apps.push(t);
    return t;
  }

  async function seed(shop: string, products: number, perProduct: number) {
    const shot = await productShot(32, 24);
    for (let p = 0; p < products; p++) {
      fake.catalogue.addProduct(shop, { title: `Item ${p}`, images: Array.from({ length: perProduct }, (_, i) => ({ bytes: shot, alt: `Item ${p} photo ${i}` })) });
    }
  }

  const client = (t: TestApp, shop: string) => {
    const headers = async () => ({ authorization: `Bearer ${await fake.signSessionToken(shop)}` });
    return {
      get: async (url: string) => t.app.inject({ url, headers: await headers() }),
      post: async (url: string, payload: unknown = {}) => t.app.inject({ method: 'POST', url, payload: payload as object, headers: await headers() }),
    };
  };

  it('pauses with INSUFFICIENT_CREDITS when credits run out, and walks on once credits are back', async () => {
    const shop = 'broke.myshopify.com';
    const t = await app(true, 10);
    await seed(shop, 5, 5); // 25 media over 3 pages of 2 products
    const c = client(t, shop);
    const start = await c.post('/batches', { scope: { all: true }, operation: 'downscale', apply: 'none' });
    expect(start.statusCode).toBe(202);
    const id = (start.json() as { batch: Batch }).batch.id;
    const paused = await waitFor(async () => {
      const b = ((await c.get(`/batches/${id}`)).json() as { batch: Batch }).batch;
      return b.status === 'paused' && b.counts.queued === 0 && b.counts.processing === 0 ? b : undefined;
    }, 60_000, 'the batch to pause');
    expect(paused).toMatchObject({ stop_reason: 'INSUFFICIENT_CREDITS', counts: { total: 10, processed: 10, failed: 0 } });
    expect(((await c.get('/credits/me')).json() as { credits: number }).credits).toBe(0);

    await queryRows(t.container.db, sql`update shop_credits set balance = balance + 100 where shop = ${shop}`);
    await queryRows(t.container.db, sql`insert into credit_transactions (shop, delta, reason, reference, balance_after) values (${shop}, 100, 'adjustment', 'topup', 100)`);
    const resumed = await c.post(`/batches/${id}/resume`);
    expect(resumed.statusCode).toBe(200);
    const done = await waitFor(async () => {
      const b = ((await c.get(`/batches/${id}`)).json() as { batch: Batch }).batch;
      return b.status === 'done' ? b : undefined;
    }, 60_000, 'the batch to finish');
    expect(done.counts).toMatchObject({ total: 25, processed: 25, failed: 0, refunded: 0 });
    expect(((await c.get('/credits/me')).json() as { credits: number }).credits).toBe(85);
    const [{ n }] = (await queryRows<{ n: number }>(t.container.db, sql`select count(distinct media_id)::int as n from media_runs where batch_id = ${id}`)) as [{ n: number }];
    expect(n).toBe(25);

    const list = await c.get('/batches?limit=1');
    expect(list.json()).toMatchObject({ batches: [{ id }], next_cursor: null });
  });

  it('cancels a batch: queued images are failed and refunded, once', async () => {
    const shop = 'cancel.myshopify.com';
    const t = await app(false, 50); // no workers: the walk is driven by hand, images stay queued
    await seed(shop, 3, 2);
    const c = client(t, shop);
    const start = await c.post('/batches', { scope: { all: true }, operation: 'upscale', apply: 'replace' });
    const id = (start.json() as { batch: Batch }).batch.id;
    await t.container.batches.walkPage(id, 0);
    await t.container.batches.walkPage(id, 0); // a repeated page job takes nothing twice
    const walked = ((await c.get(`/batches/${id}`)).json() as { batch: Batch }).batch;
    expect(walked.counts).toMatchObject({ total: 4, queued: 4 });
    expect(((await c.get('/credits/me')).json() as { credits: number }).credits).toBe(46);

    const cancelled = await c.post(`/batches/${id}/cancel`);
    expect(cancelled.statusCode).toBe(200);
    expect((cancelled.json() as { batch: Batch }).batch).toMatchObject({ status: 'cancelled', counts: { total: 4, queued: 0, failed: 4, refunded: 4 } });
    await c.post(`/batches/${id}/cancel`);
    await t.container.batches.walkPage(id, 1); // the next page of a cancelled batch does nothing
    expect(((await c.get('/credits/me')).json() as { credits: number }).credits).toBe(50);
    const refunds = await queryRows<{ n: number }>(t.container.db, sql`select count(*)::int as n from credit_transactions where shop = ${shop} and reason = 'refund'`);
    expect(refunds[0]!.n).toBe(4);
    expect(((await c.get(`/batches/${id}`)).json() as { batch: Batch }).batch.counts.total).toBe(4);

    const other = client(t, 'stranger.myshopify.com');
    expect((await other.get(`/batches/${id}`)).statusCode).toBe(404);
    expect((await other.post(`/batches/${id}/cancel`)).statusCode).toBe(404);
  });
});
