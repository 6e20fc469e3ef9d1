import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { multipart, productShot } from '../helpers/images.js';

/**
 * The legacy dashboard's calls exactly as it sends them (recorded from it in
 * Chromium): `fetch(..., { credentials: 'include' })` from FRONTEND_URL, with
 * the fields its own state carries.
 */

const FRONT = 'https://dash.example.com';
const BACK = 'https://api.example.com';

describe('the legacy dashboard, as it really calls us', () => {
  let t: TestApp;
  let cookie: string;
  const shop = 'legacy.myshopify.com';
  const headers = () => ({ cookie, origin: FRONT, 'content-type': 'application/json' });

  beforeAll(async () => {
    t = await createTestApp({ env: { FRONTEND_URL: FRONT, BACKEND_URL: BACK } });
    ({ cookie } = await devLogin(t.app, shop));
  });
  afterAll(() => t.close());

  it.each([
    ['its whole shop state (an object)', { shop: { domain: shop, plan: 'basic', credits: 10, settings: { x: [1, 2] } } }],
    ['a string', { shop }],
    ['null', { shop: null }],
    ['a number', { shop: 42 }],
    ['an array', { shop: [shop] }],
  ])('POST /image/dashboard-stats with `shop` as %s answers the stats', async (_label, body) => {
    const res = await t.app.inject({ method: 'POST', url: '/image/dashboard-stats', headers: headers(), payload: JSON.stringify(body) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ stats: { total: 0, queued: 0, processing: 0, failed: 0, completed: 0 }, recent: [] });
  });

  it('POST /image/dashboard-stats still refuses keys the dashboard never sends', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/image/dashboard-stats',
      headers: headers(),
      payload: JSON.stringify({ shop: {}, other: 1 }),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('"Save Settings" with avatar_path null or a URL saves the booleans and leaves the avatar alone', async () => {
    const save = (body: unknown) =>
      t.app.inject({ method: 'POST', url: '/settings', headers: headers(), payload: JSON.stringify(body) });
    const first = await save({ background_removal: true, optimize_images: false, avatar_path: null });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ success: true, data: { background_removal: true, optimize_images: false, avatar_path: null } });

    const form = multipart([{ name: 'file', data: await productShot(300, 300, 'png'), filename: 'me.png', contentType: 'image/png' }]);
    const uploaded = await t.app.inject({
      method: 'POST',
      url: '/settings/avatar',
      payload: form.payload,
      headers: { ...form.headers, cookie, origin: FRONT },
    });
    expect(uploaded.statusCode).toBe(200);
    const avatarUrl = (uploaded.json() as { url: string }).url;

    // The dashboard echoes the signed URL it was given (or null) back on every save.
    for (const avatar_path of [avatarUrl, null, 'https://elsewhere.example/evil.png']) {
      const res = await save({ background_removal: false, optimize_images: true, avatar_path });
      expect(res.statusCode).toBe(200);
      const data = (res.json() as { data: { avatar_path: string | null; optimize_images: boolean } }).data;
      expect(data.optimize_images).toBe(true);
      expect(data.avatar_path).toMatch(new RegExp(`/files/avatars/${shop.replace(/\./g, '\\.')}/avatar\\.webp\\?exp=`));
    }
    const wrongType = await save({ avatar_path: 12 });
    expect(wrongType.statusCode).toBe(400);
  });

  it('the sandbox confirmationUrl carries sandbox=true, and following it credits once', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/credits/checkout', headers: headers(), payload: JSON.stringify({ planId: '100' }) });
    expect(res.statusCode).toBe(200);
    const url = new URL((res.json() as { confirmationUrl: string }).confirmationUrl);
    expect(url.origin + url.pathname).toBe(`${BACK}/credits/confirm`);
    expect(url.searchParams.get('sandbox')).toBe('true');
    const confirm = await t.app.inject(url.pathname + url.search);
    expect(confirm.statusCode).toBe(302);
    expect(confirm.headers.location).toBe(`${FRONT}/dashboard?credits_added=100`);
    expect((await t.app.inject({ url: '/credits/me', headers: { cookie } })).json()).toEqual({ credits: 110 });
  });
});
