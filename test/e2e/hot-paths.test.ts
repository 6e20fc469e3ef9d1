import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { DB_KINDS } from '../helpers/db.js';
import { createShopifyTestApp, insertInstalledShop } from '../helpers/shopify.js';
import type { FakeShopify } from '../fakes/shopify.js';
import { productShot, uploadForm } from '../helpers/images.js';

/**
 * Counts, not times: what an authenticated read costs in SQL statements and
 * signature verifications, read from the app's own counters.
 */
async function counts(t: TestApp) {
  const read = async (name: string) => (await t.container.metrics.registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
  return { queries: await read('db_queries_total'), verifications: await read('credential_verifications_total') };
}

async function costOf(t: TestApp, request: () => Promise<{ statusCode: number }>, status = 200) {
  const before = await counts(t);
  const res = await request();
  expect(res.statusCode).toBe(status);
  const after = await counts(t);
  return { queries: after.queries - before.queries, verifications: after.verifications - before.verifications };
}

describe.each(DB_KINDS)('authenticated reads on %s', (db) => {
  let t: TestApp;
  let cookie: string;

  beforeAll(async () => {
    t = await createTestApp({ db });
    ({ cookie } = await devLogin(t.app, 'counted.myshopify.com'));
  });
  afterAll(() => t.close());

  for (const url of ['/credits/me', '/me']) {
    it(`${url} with the session cookie: 1 query, 1 verification`, async () => {
      const cost = await costOf(t, () => t.app.inject({ url, headers: { cookie } }));
      expect(cost).toEqual({ queries: 1, verifications: 1 });
    });
  }

  it('answers what the one query read', async () => {
    expect((await t.app.inject({ url: '/credits/me', headers: { cookie } })).json()).toEqual({ credits: 10 });
    expect((await t.app.inject({ url: '/me', headers: { cookie } })).json()).toEqual({
      shop: 'counted.myshopify.com',
      status: 'authenticated',
      plan: 'free',
      credits: 10,
    });
  });

  it('an upload: one verification, and the job row written once (in the upload transaction)', async () => {
    const form = uploadForm(await productShot(), 'downscale');
    const cost = await costOf(
      t,
      () => t.app.inject({ method: 'POST', url: '/upload', headers: { cookie, ...form.headers }, payload: form.payload }),
      202,
    );
    // The session (1), the shop's settings (1), then one transaction: the debit in its savepoint (3),
    // the image and the job (2); PostgreSQL also counts begin and commit (PGlite sends them itself).
    // The queue adds nothing: the job row is already there.
    expect(cost).toEqual({ queries: db === 'postgres' ? 9 : 7, verifications: 1 });
  });

  it('a forged cookie is verified once and costs no query', async () => {
    const forged = { cookie: `session=${'x'.repeat(20)}.y.z` };
    const cost = await costOf(t, () => t.app.inject({ url: '/credits/me', headers: forged }), 401);
    expect(cost).toEqual({ queries: 0, verifications: 1 });
  });
});

describe('authenticated reads with a Shopify session token', () => {
  let t: TestApp;
  let fake: FakeShopify;
  let close: () => Promise<void>;
  const shop = 'bearer-counted.myshopify.com';

  beforeAll(async () => {
    ({ t, fake, close } = await createShopifyTestApp('pglite'));
    await insertInstalledShop(t, shop);
  });
  afterAll(() => close());

  for (const url of ['/credits/me', '/me']) {
    it(`${url}: 1 query, 1 verification`, async () => {
      const authorization = `Bearer ${await fake.signSessionToken(shop)}`;
      const cost = await costOf(t, () => t.app.inject({ url, headers: { authorization } }));
      expect(cost).toEqual({ queries: 1, verifications: 1 });
    });
  }
});
