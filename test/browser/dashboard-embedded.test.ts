/**
 * The dashboard embedded in the Shopify admin: Shopify mode against the fake
 * Shopify, framed cross-site by the admin stand-in (https://admin.shopify.com,
 * the app on http://localhost), with third-party cookies blocked. Every call
 * must carry App Bridge's session token and none a cookie.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/process.js';
import { API_KEY } from '../helpers/shopify.js';
import { ADMIN_ORIGIN } from './admin-stand-in.js';
import { chromiumAvailable } from './harness.js';
import {
  balance,
  buyCredits,
  capture,
  changeSettings,
  type EmbeddedSession,
  embeddedSession,
  galleryDownload,
  processApplyRestore,
  smallBatch,
  uploadEachOperation,
} from './scenarios.js';

const TIMEOUT = 240_000;
const SHOP = 'embedded-store.myshopify.com';

describe.runIf(chromiumAvailable)('the dashboard embedded in the Shopify admin', () => {
  let s: EmbeddedSession;

  beforeAll(async () => {
    s = await embeddedSession({ shop: SHOP, photos: 5 });
    // A session cookie the app could have got at top level: the admin's frame must never send it.
    await s.browser.context.addCookies([{ name: 'session', value: 'not-for-the-frame', url: s.app.url, secure: true, sameSite: 'None' }]);
  }, TIMEOUT);
  afterAll(async () => {
    await s?.close();
  });

  it('opens inside the admin: installed by token exchange, the free credits shown', async () => {
    await s.page.goto(s.admin.appPage());
    const frame = await s.ui.app();
    await frame.locator('#credits-balance').waitFor();
    expect(await balance(s.ui)).toBe(10);
    expect(s.fake.calls.tokenExchange).toBe(1);
    expect(new URL(frame.url()).origin).toBe(s.app.url);
    expect(new URL(s.page.url()).origin).toBe(ADMIN_ORIGIN);
    await capture(s.ui, 'home');
  }, TIMEOUT);

  it('uploads an image per operation and watches each reach processed live', async () => {
    await uploadEachOperation(s.ui, s.app, s.files);
  }, TIMEOUT);

  it('compares results in the gallery and downloads the stored file', async () => {
    await galleryDownload(s.ui, s.app, 4);
  }, TIMEOUT);

  it('buys credits in sandbox: checkout in the top frame, back inside the admin with the credits', async () => {
    await buyCredits(s.ui);
    // The whole round trip ended where it started: the app framed by the admin.
    expect(s.page.url()).toMatch(new RegExp(`^${ADMIN_ORIGIN}/store/embedded-store/apps/${API_KEY}/dashboard\\?credits_added=100`));
  }, TIMEOUT);

  it('changes settings and sees them after a reload', async () => {
    await changeSettings(s.ui, s.files[4]!);
  }, TIMEOUT);

  it('removes the background of a product photo, applies it, and restores the original', async () => {
    await processApplyRestore(s.ui, s.app);
  }, TIMEOUT);

  it('runs a small batch over a chosen product and watches it finish live', async () => {
    await smallBatch(s.ui);
  }, TIMEOUT);

  it('reconnects a lost event stream with a fresh session token', async () => {
    const streams = () => s.app.requests.filter((r) => r.url === '/images/events');
    const before = streams().length;
    const tokens = s.admin.tokensIssued();
    s.app.app.server.closeAllConnections();
    const frame = await s.ui.app();
    await frame.getByText('Live updates interrupted').waitFor();
    await waitFor(async () => streams().length > before && !(await frame.getByText('Live updates interrupted').isVisible()), 30_000, 'the stream to come back');
    expect(streams().at(-1)!.bearer).toBe(true);
    expect(s.admin.tokensIssued()).toBeGreaterThan(tokens);
  }, TIMEOUT);

  it('sent every API call with a session token and never a cookie', () => {
    const api = s.app.requests.filter((r) => !r.url.startsWith('/app') && !r.url.startsWith('/files/') && !r.url.startsWith('/credits/confirm'));
    expect(api.length).toBeGreaterThan(20);
    expect(api.filter((r) => !r.bearer), 'calls without a bearer token').toEqual([]);
    // The cookie set above goes out at top level only (the charge's return); the frame's are blocked.
    expect(api.filter((r) => r.cookie), 'calls with a cookie').toEqual([]);
    expect(s.admin.tokensIssued()).toBeGreaterThanOrEqual(api.length);
  });

  it('threw no error in the page', () => {
    expect(s.pageErrors).toEqual([]);
  });
});
