import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/adapters/db/client.js';
import { type FakeShopify, startFakeShopify } from '../fakes/shopify.js';
import type { FakeProduct } from '../fakes/shopify-catalogue.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { productShot } from '../helpers/images.js';
import { waitFor } from '../helpers/process.js';
import { API_KEY, API_SECRET, BACKEND_URL, FRONTEND_URL, SHOPIFY_ENV } from '../helpers/shopify.js';

/** products/create and products/update webhooks drive the `auto_process` setting (Shopify mode, the fake). */
describe('automatic processing of new product media', () => {
  let fake: FakeShopify;
  let t: TestApp;
  const shop = 'auto.myshopify.com';
  let bearer: () => Promise<Record<string, string>>;

  beforeAll(async () => {
    fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET });
    t = await createTestApp({
      jobs: true,
      env: {
        ...SHOPIFY_ENV,
        SHOPIFY_ADMIN_URL_TEMPLATE: fake.adminUrlTemplate,
        SHOPIFY_CDN_URL: fake.cdnUrl,
        SHOPIFY_MEDIA_POLL_MS: '20',
        BACKEND_URL,
        FRONTEND_URL,
        FREE_CREDITS: '10',
      },
    });
    bearer = async () => ({ authorization: `Bearer ${await fake.signSessionToken(shop)}` });
    await t.app.inject({ url: '/me', headers: await bearer() }); // installs the shop
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  /** The products/* payload Shopify sends (REST shape), from the fake's product as it is now. */
  const payloadOf = (p: FakeProduct) => ({
    id: Number(p.id.split('/').pop()),
    admin_graphql_api_id: p.id,
    title: p.title,
    media: fake.catalogue.productMedia(p.id).map((f, position) => ({
      id: Number(f.id.split('/').pop()),
      admin_graphql_api_id: f.id,
      media_content_type: 'IMAGE',
      alt: f.alt,
      position: position + 1,
      preview_image: { src: `${fake.cdnUrl}/x.jpg`, width: f.width, height: f.height, status: f.status },
    })),
  });
  const deliver = async (topic: 'products/create' | 'products/update', p: FakeProduct) => {
    const body = JSON.stringify(payloadOf(p));
    const res = await t.app.inject({ method: 'POST', url: `/webhooks/${topic}`, payload: body, headers: fake.webhookHeaders(shop, topic, body) });
    expect(res.statusCode).toBe(200);
  };
  const runs = async () => (await queryRows<{ n: number }>(t.container.db, sql`select count(*)::int as n from media_runs where shop = ${shop} and auto`))[0]!.n;
  const settings = async () => (await t.app.inject({ url: '/settings', headers: await bearer() })).json() as { auto_process: Record<string, unknown> };

  it('does nothing while the setting is off', async () => {
    const p = fake.catalogue.addProduct(shop, { title: 'Off', images: [{ bytes: await productShot(30, 30) }] });
    await deliver('products/create', p);
    expect(await runs()).toBe(0);
  });

  it('processes each new media once, and never its own write-backs (the loop guard)', async () => {
    const saved = await t.app.inject({
      method: 'POST',
      url: '/settings',
      headers: await bearer(),
      payload: { auto_process: { enabled: true, operation: 'downscale', apply: 'add', daily_cap: 5 } },
    });
    expect(saved.statusCode).toBe(200);
    expect((saved.json() as { data: { auto_process: unknown } }).data.auto_process).toMatchObject({ enabled: true, apply: 'add', daily_cap: 5, paused_reason: null });

    const p = fake.catalogue.addProduct(shop, { title: 'Auto bowl', images: [{ bytes: await productShot(40, 40), alt: 'Bowl' }, { bytes: await productShot(44, 40) }] });
    await deliver('products/create', p);
    await deliver('products/create', p); // another delivery of the same change (new webhook and event ids)
    expect(await runs()).toBe(2);
    // The two results are added beside the originals...
    await waitFor(async () => fake.catalogue.productMedia(p.id).length === 4, 30_000, 'two added results');
    // ...and the products/update their write-back causes takes none of them.
    await deliver('products/update', p);
    await deliver('products/update', p);
    expect(await runs()).toBe(2);
    await waitFor(async () => (await queryRows<{ n: number }>(t.container.db, sql`select count(*)::int as n from media_runs where shop = ${shop} and applied_at is not null`))[0]!.n === 2, 30_000, 'both applied');
    expect(fake.catalogue.productMedia(p.id)).toHaveLength(4);

    // A media added later by the merchant is new: it is taken, once.
    const extra = fake.catalogue.addProduct(shop, { title: 'tmp', images: [{ bytes: await productShot(36, 36) }] });
    const newId = extra.media[0]!;
    p.media.push(newId);
    await deliver('products/update', p);
    expect(await runs()).toBe(3);
  });

  it('pauses at the daily cap and when credits run out, with the reason visible in settings', async () => {
    const p = fake.catalogue.addProduct(shop, { title: 'Capped', images: await Promise.all([1, 2, 3].map(async () => ({ bytes: await productShot(30, 30) }))) });
    await deliver('products/create', p);
    expect(await runs()).toBe(5); // 3 before, cap 5
    expect((await settings()).auto_process).toMatchObject({ paused_reason: 'DAILY_CAP' });

    await t.app.inject({ method: 'POST', url: '/settings', headers: await bearer(), payload: { auto_process: { daily_cap: 100 } } });
    expect((await settings()).auto_process).toMatchObject({ paused_reason: null, daily_cap: 100 });
    const balance = ((await t.app.inject({ url: '/credits/me', headers: await bearer() })).json() as { credits: number }).credits;
    await queryRows(t.container.db, sql`update shop_credits set balance = 0 where shop = ${shop}`);
    await queryRows(t.container.db, sql`insert into credit_transactions (shop, delta, reason, reference, balance_after) values (${shop}, ${-balance}, 'adjustment', 'drain', 0)`);
    const q = fake.catalogue.addProduct(shop, { title: 'Broke', images: [{ bytes: await productShot(30, 30) }] });
    await deliver('products/create', q);
    expect(await runs()).toBe(5);
    expect((await settings()).auto_process).toMatchObject({ paused_reason: 'INSUFFICIENT_CREDITS', paused_at: expect.any(String) });
  });
});
