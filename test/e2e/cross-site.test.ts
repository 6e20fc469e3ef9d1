import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/adapters/db/client.js';
import { balanceOf, credit, openAccount } from '../../src/modules/ledger/ledger.js';
import { multipart, productShot, uploadForm } from '../helpers/images.js';
import { API_KEY, API_SECRET, BACKEND_URL, createShopifyTestApp, FRONTEND_URL, insertInstalledShop, SHOPIFY_ENV } from '../helpers/shopify.js';
import { hs256, sessionClaims, shopifyClaims } from '../helpers/tokens.js';
import type { TestApp } from '../helpers/app.js';

/**
 * docs/api.md, Conventions: a browser's cross-site state-changing request
 * authenticated by the session cookie is a 403 CROSS_SITE_REQUEST, checked
 * before the body is read; Bearer requests and non-browser clients pass.
 */
describe('cross-site posts with the session cookie', () => {
  let t: TestApp;
  let stop: () => Promise<void>;
  let cookie: string;
  let bearer: string;
  const shop = 'victim.myshopify.com';
  const EVIL = 'https://evil.example';

  beforeAll(async () => {
    const started = await createShopifyTestApp();
    t = started.t;
    stop = () => started.close();
    await insertInstalledShop(t, shop);
    await openAccount(t.container.db, shop);
    await credit(t.container.db, { shop, reason: 'adjustment', reference: 'seed' }, 20);
    cookie = `session=${await hs256(sessionClaims(shop), SHOPIFY_ENV.JWT_SECRET)}`;
    bearer = await hs256(shopifyClaims(shop, API_KEY), API_SECRET);
  });
  afterAll(() => stop());

  const imageCount = async () =>
    (await queryRows<{ n: number }>(t.container.db, sql`select count(*)::int as n from images where shop = ${shop}`))[0]!.n;

  async function upload(headers: Record<string, string>) {
    const form = uploadForm(await productShot(), 'upscale');
    return t.app.inject({ method: 'POST', url: '/upload', payload: form.payload, headers: { ...form.headers, ...headers } });
  }

  it.each([
    ['another origin', { origin: EVIL }],
    ['Origin: null (a sandboxed frame)', { origin: 'null' }],
    ['a look-alike of the dashboard', { origin: `${FRONTEND_URL}.evil.example` }],
    ['the dashboard on http instead of https', { origin: FRONTEND_URL.replace('https:', 'http:') }],
    ['no Origin and Sec-Fetch-Site cross-site', { 'sec-fetch-site': 'cross-site' }],
  ])('an upload from %s is 403 CROSS_SITE_REQUEST, debits nothing and stores nothing', async (_label, headers) => {
    const before = await balanceOf(t.container.db, shop);
    const images = await imageCount();
    const res = await upload({ cookie, ...headers });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual({ error: expect.any(String), code: 'CROSS_SITE_REQUEST' });
    expect(await balanceOf(t.container.db, shop)).toBe(before);
    expect(await imageCount()).toBe(images);
  });

  it('the avatar, the settings and a checkout from another origin are refused too', async () => {
    const form = multipart([{ name: 'file', data: await productShot(64, 64, 'png'), filename: 'a.png', contentType: 'image/png' }]);
    const avatar = await t.app.inject({
      method: 'POST',
      url: '/settings/avatar',
      payload: form.payload,
      headers: { ...form.headers, cookie, origin: EVIL },
    });
    const settings = await t.app.inject({
      method: 'POST',
      url: '/settings',
      payload: { background_removal: true },
      headers: { cookie, origin: EVIL },
    });
    const checkout = await t.app.inject({
      method: 'POST',
      url: '/credits/checkout',
      payload: { planId: '100' },
      headers: { cookie, 'sec-fetch-site': 'cross-site' },
    });
    for (const res of [avatar, settings, checkout]) {
      expect(res.statusCode).toBe(403);
      expect((res.json() as { code: string }).code).toBe('CROSS_SITE_REQUEST');
    }
    const saved = (await t.app.inject({ url: '/settings', headers: { cookie } })).json() as { background_removal: boolean; avatar_path: unknown };
    expect(saved).toMatchObject({ background_removal: false, avatar_path: null });
  });

  it.each([
    ['the dashboard (FRONTEND_URL)', { origin: FRONTEND_URL }],
    ["the app's own origin (BACKEND_URL)", { origin: BACKEND_URL }],
    ['the Shopify admin', { origin: 'https://admin.shopify.com' }],
    ['no Origin, Sec-Fetch-Site same-site', { 'sec-fetch-site': 'same-site' }],
    ['no Origin, Sec-Fetch-Site none (typed by the user)', { 'sec-fetch-site': 'none' }],
    ['neither header (curl, a server)', {}],
  ])('an upload from %s is accepted and debits one credit', async (_label, headers) => {
    const before = await balanceOf(t.container.db, shop);
    const res = await upload({ cookie, ...headers });
    expect(res.statusCode).toBe(202);
    expect(await balanceOf(t.container.db, shop)).toBe(before - 1);
  });

  it('a Bearer-authenticated request is not affected by its Origin', async () => {
    const before = await balanceOf(t.container.db, shop);
    const res = await upload({ authorization: `Bearer ${bearer}`, cookie, origin: EVIL, 'sec-fetch-site': 'cross-site' });
    expect(res.statusCode).toBe(202);
    expect(await balanceOf(t.container.db, shop)).toBe(before - 1);
  });

  it('reads (GET) and requests without the cookie are not refused', async () => {
    const read = await t.app.inject({ url: '/credits/me', headers: { cookie, origin: EVIL, 'sec-fetch-site': 'cross-site' } });
    expect(read.statusCode).toBe(200);
    // No cookie: not cookie-authenticated, so the usual 401, not a 403.
    const anonymous = await t.app.inject({ method: 'POST', url: '/settings', payload: {}, headers: { origin: EVIL } });
    expect(anonymous.statusCode).toBe(401);
  });
});
