/**
 * The dashboard embedded in the Shopify admin: Shopify mode against the fake
 * Shopify, framed cross-site by the admin stand-in (https://admin.shopify.com,
 * the app on http://localhost), with third-party cookies blocked. Every call
 * must carry App Bridge's session token and none a cookie.
 */
import type { Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeShopify, startFakeShopify } from '../fakes/shopify.js';
import { waitFor } from '../helpers/process.js';
import { API_KEY, API_SECRET, SHOPIFY_ENV } from '../helpers/shopify.js';
import { ADMIN_ORIGIN, type AdminStandIn, installAdminStandIn } from './admin-stand-in.js';
import { chromiumAvailable, launchBrowser, serveApp, type ServedApp } from './harness.js';
import {
  balance,
  buyCredits,
  capture,
  changeSettings,
  galleryDownload,
  type Photo,
  photos,
  type Ui,
  uploadEachOperation,
  visitCataloguePages,
} from './scenarios.js';

const TIMEOUT = 240_000;
const SHOP = 'embedded-store.myshopify.com';

describe.runIf(chromiumAvailable)('the dashboard embedded in the Shopify admin', () => {
  let fake: FakeShopify;
  let app: ServedApp;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let admin: AdminStandIn;
  let page: Page;
  let ui: Ui;
  let files: Photo[];
  const pageErrors: string[] = [];

  /** The app's frame in the admin page, once its document has loaded. */
  async function appFrame(): Promise<Frame> {
    return waitFor(async () => {
      const frame = page.frame({ name: 'app-iframe' });
      return frame && (await frame.locator('#root > *').count()) > 0 ? frame : undefined;
    }, 30_000, 'the app frame');
  }

  beforeAll(async () => {
    fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET });
    [app, browser, files] = await Promise.all([
      serveApp({ ...SHOPIFY_ENV, SHOPIFY_ADMIN_URL_TEMPLATE: fake.adminUrlTemplate, SANDBOX_MODE: 'true' }),
      launchBrowser(),
      photos(5),
    ]);
    admin = await installAdminStandIn(browser.context, {
      shop: SHOP,
      apiKey: API_KEY,
      appBase: `${app.url}/app`,
      signSessionToken: (shop) => fake.signSessionToken(shop),
    });
    // A session cookie the app could have got at top level: the admin's frame must never send it.
    await browser.context.addCookies([{ name: 'session', value: 'not-for-the-frame', url: app.url, secure: true, sameSite: 'None' }]);
    page = await browser.context.newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    ui = {
      page,
      mode: 'embedded',
      app: appFrame,
      nav: async (label) => {
        await page.locator('#admin-nav').getByRole('button', { name: label, exact: true }).click();
        await (await appFrame()).getByRole('heading', { name: label, level: 1 }).waitFor();
      },
      reload: async () => {
        await page.reload();
        await (await appFrame()).locator('#credits-balance').waitFor();
      },
    };
  }, TIMEOUT);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await fake?.close();
  });

  it('opens inside the admin: installed by token exchange, the free credits shown', async () => {
    await page.goto(admin.appPage());
    const frame = await appFrame();
    await frame.locator('#credits-balance').waitFor();
    expect(await balance(ui)).toBe(10);
    expect(fake.calls.tokenExchange).toBe(1);
    expect(new URL(frame.url()).origin).toBe(app.url);
    expect(new URL(page.url()).origin).toBe(ADMIN_ORIGIN);
    await capture(ui, 'home');
  }, TIMEOUT);

  it('uploads an image per operation and watches each reach processed live', async () => {
    await uploadEachOperation(ui, app, files);
  }, TIMEOUT);

  it('compares results in the gallery and downloads the stored file', async () => {
    await galleryDownload(ui, app, 4);
  }, TIMEOUT);

  it('buys credits in sandbox: checkout in the top frame, back inside the admin with the credits', async () => {
    await buyCredits(ui);
    // The whole round trip ended where it started: the app framed by the admin.
    expect(page.url()).toMatch(new RegExp(`^${ADMIN_ORIGIN}/store/embedded-store/apps/${API_KEY}/dashboard\\?credits_added=100`));
  }, TIMEOUT);

  it('changes settings and sees them after a reload', async () => {
    await changeSettings(ui, files[4]!);
  }, TIMEOUT);

  it('renders the catalogue pages', async () => {
    await visitCataloguePages(ui);
  }, TIMEOUT);

  it('reconnects a lost event stream with a fresh session token', async () => {
    const streams = () => app.requests.filter((r) => r.url === '/images/events');
    const before = streams().length;
    const tokens = admin.tokensIssued();
    app.app.server.closeAllConnections();
    const frame = await appFrame();
    await frame.getByText('Live updates interrupted').waitFor();
    await waitFor(async () => streams().length > before && !(await frame.getByText('Live updates interrupted').isVisible()), 30_000, 'the stream to come back');
    expect(streams().at(-1)!.bearer).toBe(true);
    expect(admin.tokensIssued()).toBeGreaterThan(tokens);
  }, TIMEOUT);

  it('sent every API call with a session token and never a cookie', () => {
    const api = app.requests.filter((r) => !r.url.startsWith('/app') && !r.url.startsWith('/files/') && !r.url.startsWith('/credits/confirm'));
    expect(api.length).toBeGreaterThan(20);
    expect(api.filter((r) => !r.bearer), 'calls without a bearer token').toEqual([]);
    // The cookie set above goes out at top level only (the charge's return); the frame's are blocked.
    expect(api.filter((r) => r.cookie), 'calls with a cookie').toEqual([]);
    expect(admin.tokensIssued()).toBeGreaterThanOrEqual(api.length);
  });

  it('threw no error in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
