import { queryRows } from '../../src/adapters/db/client.js';
import { createHmac, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { images, jobs, settings } from '../../src/adapters/db/schema.js';
import { balanceOf, debit } from '../../src/modules/ledger/ledger.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { DB_KINDS } from '../helpers/db.js';
import { waitFor } from '../helpers/process.js';
import { API_SECRET, createShopifyTestApp } from '../helpers/shopify.js';
import type { FakeShopify } from '../fakes/shopify.js';

type Row = Record<string, unknown>;

describe.each(DB_KINDS)('webhooks on %s', (db) => {
  let t: TestApp;
  let fake: FakeShopify;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ t, fake, close } = await createShopifyTestApp(db));
  });
  afterAll(() => close());

  const rows = (query: ReturnType<typeof sql>) => queryRows<Row>(t.container.db, query);
  const shopRow = async (shop: string) => (await rows(sql`select * from shops where domain = ${shop}`))[0]!;
  const eventCount = async () => Number((await rows(sql`select count(*)::int as n from webhook_events`))[0]!.n);

  /** Installs a shop by token exchange (as the embedded app's first load does) and returns its Bearer header. */
  async function install(shop: string) {
    const authorization = `Bearer ${await fake.signSessionToken(shop)}`;
    const res = await t.app.inject({ url: '/me', headers: { authorization } });
    expect(res.statusCode).toBe(200);
    return { authorization };
  }

  async function addImage(shop: string, status: (typeof images.$inferInsert)['status'], withFiles = false) {
    const id = randomUUID();
    await debit(t.container.db, { shop, reference: id }, 1);
    const originalPath = `${shop}/upload/${id}.png`;
    const processedPath = status === 'processed' ? `${shop}/processed/${id}.png` : null;
    await t.container.db.insert(images).values({ id, shop, operation: 'upscale', status, filename: 'a.png', originalPath, processedPath });
    await t.container.db.insert(jobs).values({ id, type: 'image.process', payload: { imageId: id }, status: status === 'processing' ? 'active' : 'queued' });
    if (withFiles) {
      await t.container.storage.put(originalPath, Buffer.from('original'), 'image/png');
      if (processedPath) await t.container.storage.put(processedPath, Buffer.from('processed'), 'image/png');
    }
    return { id, originalPath, processedPath };
  }

  const post = (path: string, shop: string, topic: string, body: string, opts: Parameters<FakeShopify['webhookHeaders']>[3] = {}) =>
    t.app.inject({ method: 'POST', url: path, headers: fake.webhookHeaders(shop, topic, body, opts), payload: body });

  const uninstallBody = (shop: string) => JSON.stringify({ id: 1, name: 'Shop', domain: shop, myshopify_domain: shop });

  it('app/uninstalled: tokens deleted, queued jobs cancelled with refunds, balance kept; a replay does nothing', async () => {
    const shop = 'uninstall.myshopify.com';
    const { authorization } = await install(shop);
    const pending = await addImage(shop, 'pending');
    const queued = await addImage(shop, 'queued');
    const processing = await addImage(shop, 'processing');
    const done = await addImage(shop, 'processed');
    expect(await balanceOf(t.container.db, shop)).toBe(6);

    const body = uninstallBody(shop);
    const headers = { webhookId: 'wh-uninstall-1' };
    const res = await post('/webhooks/uninstall', shop, 'app/uninstalled', body, headers);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ received: true });

    const row = await shopRow(shop);
    expect(row.uninstalled_at).not.toBeNull();
    expect(row.access_token_enc).toBeNull();
    expect(row.refresh_token_enc).toBeNull();
    const imgs = (await rows(sql`select id, status, error_message from images where shop = ${shop}`));
    const byId = Object.fromEntries(imgs.map((r) => [r.id, r]));
    expect(byId[pending.id]).toMatchObject({ status: 'failed', error_message: 'Shop uninstalled' });
    expect(byId[queued.id]).toMatchObject({ status: 'failed', error_message: 'Shop uninstalled' });
    expect(byId[processing.id]).toMatchObject({ status: 'processing' });
    expect(byId[done.id]).toMatchObject({ status: 'processed' });
    const jobRows = Object.fromEntries((await rows(sql`select id, status from jobs`)).map((r) => [r.id, r.status]));
    expect(jobRows[pending.id]).toBe('failed');
    expect(jobRows[queued.id]).toBe('failed');
    expect(jobRows[processing.id]).toBe('active');
    expect(await balanceOf(t.container.db, shop)).toBe(8); // 6 + 2 refunds: the balance is kept
    // The uninstalled shop's session is refused.
    const session = await t.container.auth.issueSession(shop);
    expect((await t.app.inject({ url: '/me', headers: { cookie: `session=${session}` } })).statusCode).toBe(401);

    // Reinstall (token exchange), then a replay of the same delivery: 200, no effect.
    await t.app.inject({ url: '/me', headers: { authorization } });
    expect((await shopRow(shop)).uninstalled_at).toBeNull();
    const replay = await post('/webhooks/uninstall', shop, 'app/uninstalled', body, headers);
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toEqual({ received: true, duplicate: true });
    expect((await shopRow(shop)).uninstalled_at).toBeNull();
    expect((await shopRow(shop)).access_token_enc).not.toBeNull();
    expect(await balanceOf(t.container.db, shop)).toBe(8);
    // No second grant on reinstall.
    expect(Number((await rows(sql`select count(*)::int as n from credit_transactions where shop = ${shop} and reason = 'grant'`))[0]!.n)).toBe(1);
  });

  it('app/scopes_update stores the scopes; an older event arriving late is ignored', async () => {
    const shop = 'scopes.myshopify.com';
    await install(shop);
    // Two changes after the install, delivered newest first.
    const at = (msFromNow: number) => new Date(Date.now() + msFromNow).toISOString();
    const [olderAt, newerAt] = [at(1000), at(2000)];
    const newer = JSON.stringify({ id: 1, previous: ['read_products'], current: ['read_products', 'write_products', 'read_files'], updated_at: newerAt });
    const older = JSON.stringify({ id: 2, previous: [], current: ['read_products'], updated_at: olderAt });
    const r1 = await post('/webhooks/app_scopes_update', shop, 'app/scopes_update', newer, { triggeredAt: newerAt });
    expect(r1.statusCode).toBe(200);
    expect((await shopRow(shop)).scopes).toBe('read_products,write_products,read_files');
    const r2 = await post('/webhooks/app_scopes_update', shop, 'app/scopes_update', older, { triggeredAt: olderAt });
    expect(r2.statusCode).toBe(200);
    expect(r2.json()).toEqual({ received: true, stale: true });
    expect((await shopRow(shop)).scopes).toBe('read_products,write_products,read_files');
  });

  it('one event delivered twice (two subscriptions, or a retry with a new delivery id) is handled once, by X-Shopify-Event-Id', async () => {
    const shop = 'event-dedupe.myshopify.com';
    await install(shop);
    const first = JSON.stringify({ id: 1, previous: [], current: ['read_products'], updated_at: '2026-01-01T00:00:00Z' });
    const r1 = await post('/webhooks/app_scopes_update', shop, 'app/scopes_update', first, { eventId: 'evt-1', webhookId: 'delivery-a' });
    expect(r1.json()).toEqual({ received: true });
    await t.container.db.execute(sql`update shops set scopes = 'changed-since' where domain = ${shop}`);
    const r2 = await post('/webhooks/app_scopes_update', shop, 'app/scopes_update', first, { eventId: 'evt-1', webhookId: 'delivery-b' });
    expect(r2.json()).toEqual({ received: true, duplicate: true });
    expect((await shopRow(shop)).scopes).toBe('changed-since');
  });

  it('without X-Shopify-Event-Id, the webhook id deduplicates', async () => {
    const shop = 'id-dedupe.myshopify.com';
    await install(shop);
    const body = JSON.stringify({ id: 1, previous: [], current: ['read_products'] });
    const send = () => {
      const { 'x-shopify-event-id': _e, ...headers } = fake.webhookHeaders(shop, 'app/scopes_update', body, { webhookId: 'no-event-id' });
      return t.app.inject({ method: 'POST', url: '/webhooks/app_scopes_update', headers, payload: body });
    };
    expect((await send()).json()).toEqual({ received: true });
    expect((await send()).json()).toEqual({ received: true, duplicate: true });
  });

  it.each([
    ['/webhooks/uninstall', 'app/uninstalled', (shop: string) => uninstallBody(shop)],
    ['/webhooks/app_scopes_update', 'app/scopes_update', () => JSON.stringify({ id: 1, previous: [], current: ['read_all'] })],
    ['/webhooks/shop/redact', 'shop/redact', (shop: string) => JSON.stringify({ shop_id: 9, shop_domain: shop })],
  ])('%s triggered before the current install is ignored and changes nothing', async (path, topic, makeBody) => {
    const shop = `before-${topic.replace(/[^a-z]/g, '-')}.myshopify.com`;
    const triggeredAt = new Date(Date.now() - 60_000).toISOString(); // the event belongs to an earlier install
    await install(shop);
    const queued = await addImage(shop, 'queued', true);
    const before = await shopRow(shop);
    const res = await post(path, shop, topic, makeBody(shop), { triggeredAt });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ received: true, stale: true });
    expect(await shopRow(shop)).toEqual(before);
    expect((await rows(sql`select status from images where id = ${queued.id}`))[0]).toEqual({ status: 'queued' });
    expect(await t.container.storage.exists(queued.originalPath)).toBe(true);
  });

  it('uninstall, reinstall, then late deliveries of the old install: each ignored, the shop stays installed', async () => {
    const shop = 'reinstalled.myshopify.com';
    await install(shop);
    const uninstalledAt = new Date().toISOString();
    const first = await post('/webhooks/uninstall', shop, 'app/uninstalled', uninstallBody(shop), { triggeredAt: uninstalledAt, eventId: 'evt-uninstall', webhookId: 'wh-uninstall-a' });
    expect(first.json()).toEqual({ received: true });
    await waitFor(async () => Date.now() > new Date(uninstalledAt).getTime(), 1000, 'the clock to move past the uninstall');
    const { authorization } = await install(shop); // the merchant installs the app again
    expect((await shopRow(shop)).uninstalled_at).toBeNull();

    // The same event through another subscription: a duplicate by event id.
    const again = await post('/webhooks/uninstall', shop, 'app/uninstalled', uninstallBody(shop), { triggeredAt: uninstalledAt, eventId: 'evt-uninstall', webhookId: 'wh-uninstall-b' });
    expect(again.json()).toEqual({ received: true, duplicate: true });
    // A scopes update of the old install, delivered late: triggered before the reinstall.
    const scopes = JSON.stringify({ id: 3, previous: ['read_products'], current: [] });
    const late = await post('/webhooks/app_scopes_update', shop, 'app/scopes_update', scopes, { triggeredAt: uninstalledAt });
    expect(late.json()).toEqual({ received: true, stale: true });
    const row = await shopRow(shop);
    expect(row.uninstalled_at).toBeNull();
    expect(row.access_token_enc).not.toBeNull();
    expect(row.scopes).not.toBe('');
    expect((await t.app.inject({ url: '/me', headers: { authorization } })).statusCode).toBe(200);
  });

  it('shop/redact deletes the images, files, settings and tokens; keeps the ledger', async () => {
    const shop = 'redact.myshopify.com';
    const other = 'bystander.myshopify.com';
    await install(shop);
    await install(other);
    const a = await addImage(shop, 'processed', true);
    const b = await addImage(shop, 'queued', true);
    const kept = await addImage(other, 'processed', true);
    await t.container.storage.put(`avatars/${shop}/avatar.webp`, Buffer.from('avatar'), 'image/webp');
    await t.container.db.insert(settings).values({ shop, backgroundRemoval: true, optimizeImages: false, avatarPath: `avatars/${shop}/avatar.webp` });
    const balance = await balanceOf(t.container.db, shop);

    const res = await post('/webhooks/shop/redact', shop, 'shop/redact', JSON.stringify({ shop_id: 9, shop_domain: shop }));
    expect(res.statusCode).toBe(200);
    expect((await rows(sql`select id from images where shop = ${shop}`))).toHaveLength(0);
    expect((await rows(sql`select shop from settings where shop = ${shop}`))).toHaveLength(0);
    expect((await rows(sql`select id from jobs where id in (${a.id}, ${b.id})`))).toHaveLength(0);
    const row = await shopRow(shop);
    expect(row.access_token_enc).toBeNull();
    expect(row.refresh_token_enc).toBeNull();
    for (const key of [a.originalPath, a.processedPath!, b.originalPath, `avatars/${shop}/avatar.webp`]) {
      await expect(t.container.storage.get(key)).rejects.toMatchObject({ kind: 'not_found' });
    }
    // Another shop's data is untouched.
    expect(await t.container.storage.exists(kept.originalPath)).toBe(true);
    expect((await rows(sql`select id from images where shop = ${other}`))).toHaveLength(1);
    expect(await balanceOf(t.container.db, shop)).toBe(balance);
  });

  it.each([
    ['/webhooks/customers/data_request', 'customers/data_request'],
    ['/webhooks/customers/redact', 'customers/redact'],
  ])('%s answers 200', async (path, topic) => {
    const shop = 'compliance.myshopify.com';
    const body = JSON.stringify({ shop_id: 1, shop_domain: shop, customer: { id: 5, email: 'a@b.c' }, orders_requested: [1] });
    const res = await post(path, shop, topic, body);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ received: true });
  });

  it('app_purchases_one_time/update reaches the plugged-in handler once per delivery', async () => {
    const seen: Array<[string, unknown]> = [];
    const original = t.container.onPurchaseUpdate;
    t.container.onPurchaseUpdate = async (shop, payload) => void seen.push([shop, payload]);
    try {
      const shop = 'buyer.myshopify.com';
      const payload = { app_purchase_one_time: { admin_graphql_api_id: 'gid://shopify/AppPurchaseOneTime/1', status: 'ACTIVE', name: '100 credits' } };
      const body = JSON.stringify(payload);
      const r1 = await post('/webhooks/app_purchases_one_time_update', shop, 'app_purchases_one_time/update', body, { webhookId: 'purchase-1' });
      const r2 = await post('/webhooks/app_purchases_one_time_update', shop, 'app_purchases_one_time/update', body, { webhookId: 'purchase-1' });
      expect([r1.statusCode, r2.statusCode]).toEqual([200, 200]);
      expect(seen).toEqual([[shop, payload]]);
    } finally {
      t.container.onPurchaseUpdate = original;
    }
  });

  it('a handler failure answers 5xx and forgets the delivery, so Shopify retries it', async () => {
    let fail = true;
    const original = t.container.onPurchaseUpdate;
    t.container.onPurchaseUpdate = async () => {
      if (fail) throw new Error('boom');
    };
    try {
      const shop = 'retry.myshopify.com';
      const body = JSON.stringify({ app_purchase_one_time: { admin_graphql_api_id: 'gid://shopify/AppPurchaseOneTime/2' } });
      const r1 = await post('/webhooks/app_purchases_one_time_update', shop, 'app_purchases_one_time/update', body, { webhookId: 'retry-1' });
      expect(r1.statusCode).toBe(500);
      fail = false;
      const r2 = await post('/webhooks/app_purchases_one_time_update', shop, 'app_purchases_one_time/update', body, { webhookId: 'retry-1' });
      expect(r2.json()).toEqual({ received: true });
    } finally {
      t.container.onPurchaseUpdate = original;
    }
  });

  describe('attacks are refused and change nothing', () => {
    const shop = 'target.myshopify.com';
    beforeAll(async () => {
      await install(shop);
    });
    const body = () => uninstallBody(shop);
    const send = (headers: Record<string, string>, payload: string) =>
      t.app.inject({ method: 'POST', url: '/webhooks/uninstall', headers, payload });
    const valid = (payload: string) => fake.webhookHeaders(shop, 'app/uninstalled', payload);

    const cases: Array<[string, number, string, () => { headers: Record<string, string>; payload: string }]> = [
      ['a forged HMAC', 401, 'INVALID_HMAC', () => ({ headers: { ...valid(body()), 'x-shopify-hmac-sha256': Buffer.alloc(32, 1).toString('base64') }, payload: body() })],
      ['a missing HMAC', 401, 'INVALID_HMAC', () => {
        const { 'x-shopify-hmac-sha256': _h, ...rest } = valid(body());
        return { headers: rest, payload: body() };
      }],
      ['a truncated HMAC', 401, 'INVALID_HMAC', () => ({ headers: { ...valid(body()), 'x-shopify-hmac-sha256': valid(body())['x-shopify-hmac-sha256']!.slice(0, 20) }, payload: body() })],
      ['an HMAC with another secret', 401, 'INVALID_HMAC', () => ({
        headers: { ...valid(body()), 'x-shopify-hmac-sha256': createHmac('sha256', `${API_SECRET}x`).update(body()).digest('base64') },
        payload: body(),
      })],
      ['an HMAC of another body', 401, 'INVALID_HMAC', () => ({ headers: valid(body()), payload: body().replace('Shop', 'Shoq') })],
      ['a valid HMAC over malformed JSON', 400, 'INVALID_JSON', () => ({ headers: valid('{"id": 1, '), payload: '{"id": 1, ' })],
      ['a valid HMAC over an empty body', 400, 'INVALID_JSON', () => ({ headers: valid(''), payload: '' })],
      ['a valid HMAC over a JSON array', 400, 'INVALID_PAYLOAD', () => ({ headers: valid('[]'), payload: '[]' })],
      ['a missing webhook id', 400, 'INVALID_WEBHOOK_ID', () => {
        const { 'x-shopify-webhook-id': _w, ...rest } = valid(body());
        return { headers: rest, payload: body() };
      }],
      ['an invalid shop header', 400, 'INVALID_SHOP', () => ({ headers: { ...valid(body()), 'x-shopify-shop-domain': 'evil.com' }, payload: body() })],
      ['a payload naming another shop', 400, 'INVALID_PAYLOAD', () => {
        const other = uninstallBody('other.myshopify.com');
        return { headers: valid(other), payload: other };
      }],
      ['another topic', 400, 'INVALID_TOPIC', () => ({ headers: { ...valid(body()), 'x-shopify-topic': 'shop/redact' }, payload: body() })],
      ['a missing topic', 400, 'INVALID_TOPIC', () => {
        const { 'x-shopify-topic': _t, ...rest } = valid(body());
        return { headers: rest, payload: body() };
      }],
      ['a missing API version', 400, 'INVALID_API_VERSION', () => {
        const { 'x-shopify-api-version': _v, ...rest } = valid(body());
        return { headers: rest, payload: body() };
      }],
      ['a hex HMAC instead of base64', 401, 'INVALID_HMAC', () => ({
        headers: { ...valid(body()), 'x-shopify-hmac-sha256': createHmac('sha256', API_SECRET).update(body()).digest('hex') },
        payload: body(),
      })],
      ['the body re-serialised under the original HMAC', 401, 'INVALID_HMAC', () => ({
        headers: valid(body()),
        payload: JSON.stringify(JSON.parse(body()), null, 1),
      })],
    ];

    it.each(cases)('%s: %i %s', async (_name, status, code, make) => {
      const { headers, payload } = make();
      const events = await eventCount();
      const res = await send(headers, payload);
      expect(res.statusCode).toBe(status);
      expect((res.json() as { code: string }).code).toBe(code);
      expect(await eventCount()).toBe(events);
      const row = await shopRow(shop);
      expect(row.uninstalled_at).toBeNull();
      expect(row.access_token_enc).not.toBeNull();
    });
  });
});

describe('webhooks in local mode', () => {
  it('are refused with 401 (no secret can sign them)', async () => {
    const t = await createTestApp();
    try {
      const res = await t.app.inject({ method: 'POST', url: '/webhooks/uninstall', headers: { 'content-type': 'application/json' }, payload: '{}' });
      expect(res.statusCode).toBe(401);
    } finally {
      await t.close();
    }
  });
});
