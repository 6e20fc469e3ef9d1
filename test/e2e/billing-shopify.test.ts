import { queryRows } from '../../src/adapters/db/client.js';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeShopify } from '../fakes/shopify.js';
import { DB_KINDS } from '../helpers/db.js';
import type { TestApp } from '../helpers/app.js';
import { createShopifyTestApp, FRONTEND_URL } from '../helpers/shopify.js';

describe.each(DB_KINDS)('Shopify billing (sandbox off) on %s', (db) => {
  let t: TestApp;
  let fake: FakeShopify;
  let close: () => Promise<void>;
  const shop = 'payer.myshopify.com';

  beforeAll(async () => {
    ({ t, fake, close } = await createShopifyTestApp(db));
    // First load of the embedded app: token exchange installs the shop (10 free credits).
    const me = await t.app.inject({ url: '/me', headers: await bearer(shop) });
    expect(me.statusCode).toBe(200);
  });
  afterAll(() => close());

  async function bearer(s: string) {
    return { authorization: `Bearer ${await fake.signSessionToken(s)}` };
  }
  const balance = async (s = shop) =>
    ((await t.app.inject({ url: '/credits/me', headers: await bearer(s) })).json() as { credits: number }).credits;
  async function checkout(planId: string, url = '/credits/checkout', s = shop) {
    const res = await t.app.inject({ method: 'POST', url, headers: await bearer(s), payload: { planId } });
    expect(res.statusCode).toBe(200);
    const { confirmationUrl } = res.json() as { confirmationUrl: string };
    const [row] = await queryRows<{ id: string; purchase_gid: string }>(
      t.container.db,
      sql`select id, purchase_gid from credit_pending where shop = ${s} order by created_at desc limit 1`,
    );
    return { confirmationUrl, pendingId: row!.id, gid: row!.purchase_gid };
  }
  const confirmPath = (pendingId: string, planId: string, extra = '') =>
    `/credits/confirm?planId=${planId}&purchaseId=${pendingId}&charge_id=123${extra}`;
  const purchaseWebhook = (s: string, gid: string, webhookId: string) => {
    const body = JSON.stringify({ app_purchase_one_time: { admin_graphql_api_id: gid, status: 'ACTIVE', name: 'x' } });
    return t.app.inject({
      method: 'POST',
      url: '/webhooks/app_purchases_one_time_update',
      headers: fake.webhookHeaders(s, 'app_purchases_one_time/update', body, { webhookId }),
      payload: body,
    });
  };

  it('creates the purchase at Shopify and sends the merchant to its confirmation URL', async () => {
    const { confirmationUrl, gid } = await checkout('100');
    expect(gid).toMatch(/^gid:\/\/shopify\/AppPurchaseOneTime\/\d+$/);
    const purchase = fake.purchases.get(gid)!;
    expect(purchase).toMatchObject({ shop, status: 'PENDING', price: { amount: '10.00', currencyCode: 'USD' }, test: false });
    expect(purchase.returnUrl).toMatch(/\/credits\/confirm\?planId=100&purchaseId=[0-9a-f-]{36}$/);
    expect(confirmationUrl).not.toContain('/credits/confirm');
  });

  it('PENDING redirects to payment-pending; ACTIVE credits once; replays add nothing', async () => {
    const { pendingId, gid } = await checkout('100');
    const before = await balance();
    const pending = await t.app.inject(confirmPath(pendingId, '100'));
    expect(pending.statusCode).toBe(302);
    expect(pending.headers.location).toBe(`${FRONTEND_URL}/payment-pending`);
    expect(await balance()).toBe(before);

    fake.setPurchaseStatus(gid, 'ACTIVE');
    fake.throttleNext(1); // Shopify's throttling is waited out
    const active = await t.app.inject(confirmPath(pendingId, '100'));
    expect(active.headers.location).toBe(`${FRONTEND_URL}/dashboard?credits_added=100`);
    await Promise.all(Array.from({ length: 10 }, () => t.app.inject(confirmPath(pendingId, '100'))));
    expect(await balance()).toBe(before + 100);
  });

  it('DECLINED and EXPIRED credit nothing and mark the purchase', async () => {
    for (const status of ['DECLINED', 'EXPIRED'] as const) {
      const { pendingId, gid } = await checkout('500');
      const before = await balance();
      fake.setPurchaseStatus(gid, status);
      const res = await t.app.inject(confirmPath(pendingId, '500'));
      expect(res.statusCode).toBe(302);
      expect(res.headers.location).toBe(`${FRONTEND_URL}/dashboard?purchase=declined`);
      fake.setPurchaseStatus(gid, 'ACTIVE'); // a later change of heart at Shopify is not trusted either
      await t.app.inject(confirmPath(pendingId, '500'));
      expect(await balance()).toBe(before);
      const rows = (await t.container.db.execute(sql`select status from credit_pending where id = ${pendingId}`)) as unknown as {
        rows: Array<{ status: string }>;
      };
      expect(rows.rows[0]!.status).toBe(status.toLowerCase());
    }
  });

  it('a purchase whose price does not match its plan is refused', async () => {
    const { pendingId, gid } = await checkout('1000');
    const before = await balance();
    const purchase = fake.purchases.get(gid)!;
    purchase.status = 'ACTIVE';
    purchase.price = { amount: '0.50', currencyCode: 'USD' };
    const res = await t.app.inject(confirmPath(pendingId, '1000'));
    expect(res.statusCode).toBe(400);
    expect((res.json() as { code: string }).code).toBe('PURCHASE_MISMATCH');
    purchase.price = { amount: '75.00', currencyCode: 'EUR' };
    expect((await t.app.inject(confirmPath(pendingId, '1000'))).statusCode).toBe(400);
    expect(await balance()).toBe(before);
  });

  it('sandbox=true in the query, body or headers cannot take the sandbox path', async () => {
    const before = await balance();
    const { confirmationUrl, pendingId, gid } = await checkout('100', '/credits/checkout?sandbox=true&sandbox_mode=1');
    expect(gid).toMatch(/^gid:\/\//);
    expect(confirmationUrl).not.toContain('/credits/confirm');
    const withBody = await t.app.inject({
      method: 'POST',
      url: '/credits/checkout',
      headers: await bearer(shop),
      payload: { planId: '100', sandbox: true },
    });
    expect(withBody.statusCode).toBe(400);
    const res = await t.app.inject({ url: confirmPath(pendingId, '100', '&sandbox=1&test=true'), headers: { 'x-sandbox': '1' } });
    expect(res.headers.location).toBe(`${FRONTEND_URL}/payment-pending`);
    expect(await balance()).toBe(before);
  });

  it('the same purchase through confirm, webhook and reconciliation, 20 times each at once: credited exactly once', async () => {
    const { pendingId, gid } = await checkout('5000');
    const before = await balance();
    fake.setPurchaseStatus(gid, 'ACTIVE');
    await t.container.db.execute(sql`update credit_pending set created_at = now() - interval '1 hour' where id = ${pendingId}`);
    const results = await Promise.allSettled([
      ...Array.from({ length: 20 }, () => t.app.inject(confirmPath(pendingId, '5000'))),
      ...Array.from({ length: 20 }, (_, i) => purchaseWebhook(shop, gid, `race-${i}`)),
      ...Array.from({ length: 20 }, () => t.container.purchases.reconcile(0)),
    ]);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await balance()).toBe(before + 5000);
    const ledger = await queryRows(
      t.container.db,
      sql`select count(*)::int as n from credit_transactions where shop = ${shop} and reason = 'purchase' and reference = ${gid}`,
    );
    expect(ledger).toEqual([{ n: 1 }]);
  });

  it('the purchase webhook credits an ACTIVE purchase on its own (a lost redirect)', async () => {
    const { gid } = await checkout('100');
    const before = await balance();
    fake.setPurchaseStatus(gid, 'ACTIVE');
    const res = await purchaseWebhook(shop, gid, 'lost-redirect');
    expect(res.statusCode).toBe(200);
    expect(await balance()).toBe(before + 100);
  });

  it("a purchase id of another shop credits nobody: not through the webhook, not by confirm's planId", async () => {
    const other = 'other-payer.myshopify.com';
    expect((await t.app.inject({ url: '/me', headers: await bearer(other) })).statusCode).toBe(200);
    const { pendingId, gid } = await checkout('100', '/credits/checkout', other);
    fake.setPurchaseStatus(gid, 'ACTIVE');
    const mine = await balance();
    const theirs = await balance(other);
    // Our shop's webhook naming their purchase: acknowledged, nothing credited.
    expect((await purchaseWebhook(shop, gid, 'cross-shop')).statusCode).toBe(200);
    expect(await balance()).toBe(mine);
    expect(await balance(other)).toBe(theirs);
    // Their confirm URL credits them, never the visitor.
    await t.app.inject({ url: confirmPath(pendingId, '100'), headers: await bearer(shop) });
    expect(await balance()).toBe(mine);
    expect(await balance(other)).toBe(theirs + 100);
  });

  it('a test charge never credits a production shop: not by confirm, webhook or reconciliation', async () => {
    const { pendingId, gid } = await checkout('100');
    const before = await balance();
    const purchase = fake.purchases.get(gid)!;
    purchase.status = 'ACTIVE';
    purchase.test = true; // e.g. a development store, or a purchase made while BILLING_TEST was on
    const res = await t.app.inject(confirmPath(pendingId, '100'));
    expect(res.statusCode).toBe(400);
    expect((res.json() as { code: string }).code).toBe('TEST_PURCHASE');
    expect((await purchaseWebhook(shop, gid, 'test-charge')).statusCode).toBe(200);
    await t.container.db.execute(sql`update credit_pending set created_at = now() - interval '1 hour' where id = ${pendingId}`);
    await t.container.purchases.reconcile(0);
    expect(await balance()).toBe(before);
  });

  it('a purchase id that was never created is a 404 and changes nothing', async () => {
    const before = await balance();
    const res = await t.app.inject(confirmPath('5b2c1d3e-0000-4000-8000-000000000000', '100'));
    expect(res.statusCode).toBe(404);
    expect((await purchaseWebhook(shop, 'gid://shopify/AppPurchaseOneTime/999999', 'never')).statusCode).toBe(200);
    expect(await balance()).toBe(before);
  });
});

describe('Shopify billing with BILLING_TEST=true (development stores)', () => {
  it('creates test charges, and a test charge credits', async () => {
    const { t, fake, close } = await createShopifyTestApp('pglite', { BILLING_TEST: 'true' });
    try {
      const shop = 'dev-store.myshopify.com';
      const authorization = `Bearer ${await fake.signSessionToken(shop)}`;
      const res = await t.app.inject({ method: 'POST', url: '/credits/checkout', headers: { authorization }, payload: { planId: '100' } });
      expect(res.statusCode).toBe(200);
      const [row] = await queryRows<{ id: string; purchase_gid: string }>(t.container.db, sql`select id, purchase_gid from credit_pending where shop = ${shop}`);
      expect(fake.purchases.get(row!.purchase_gid)!.test).toBe(true);
      fake.setPurchaseStatus(row!.purchase_gid, 'ACTIVE');
      const confirm = await t.app.inject(`/credits/confirm?planId=100&purchaseId=${row!.id}`);
      expect(confirm.headers.location).toBe(`${FRONTEND_URL}/dashboard?credits_added=100`);
      const credits = await t.app.inject({ url: '/credits/me', headers: { authorization: `Bearer ${await fake.signSessionToken(shop)}` } });
      expect(credits.json()).toEqual({ credits: 110 });
    } finally {
      await close();
    }
  });
});
