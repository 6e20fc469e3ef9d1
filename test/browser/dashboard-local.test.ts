/**
 * The dashboard in local mode (no Shopify credentials): dev-login and the
 * session cookie, in Debian's Chromium, against the real app on a real port.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/process.js';
import { chromiumAvailable, launchBrowser, serveApp, type ServedApp } from './harness.js';
import {
  balance,
  buyCredits,
  capture,
  changeSettings,
  choose,
  galleryDownload,
  type Photo,
  localUi,
  photos,
  signIn,
  type Ui,
  uploadEachOperation,
  visitCataloguePages,
} from './scenarios.js';

const TIMEOUT = 240_000;

describe.runIf(chromiumAvailable)('the dashboard in local mode', () => {
  let app: ServedApp;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let page: Page;
  let ui: Ui;
  let files: Photo[];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    [app, browser, files] = await Promise.all([serveApp(), launchBrowser(), photos(5)]);
    page = await browser.context.newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    ui = localUi(page, app);
  }, TIMEOUT);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('signs in with dev-login and shows the free credits', async () => {
    await page.goto(`${app.url}/app`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await capture(ui, 'sign-in');
    await signIn(page, app);
    expect(await balance(ui)).toBe(10);
    await capture(ui, 'home');
  }, TIMEOUT);

  it('uploads an image per operation and watches each reach processed live', async () => {
    await uploadEachOperation(ui, app, files);
    await ui.nav('Home');
    expect(await balance(ui)).toBe(6);
    await page.locator('[data-count="completed"] dd', { hasText: '4' }).waitFor();
  }, TIMEOUT);

  it('compares results in the gallery and downloads the stored file', async () => {
    await galleryDownload(ui, app, 4);
  }, TIMEOUT);

  it('buys credits in sandbox and lands on Home with them', async () => {
    await buyCredits(ui);
  }, TIMEOUT);

  it('changes settings and sees them after a reload', async () => {
    await changeSettings(ui, files[4]!);
  }, TIMEOUT);

  it('renders the catalogue pages', async () => {
    await visitCataloguePages(ui);
  }, TIMEOUT);

  it('works from the keyboard alone', async () => {
    await ui.reload();
    // What has the focus (the page's document.activeElement; this file is typed without the DOM).
    const focused = () =>
      page.evaluate(() => {
        const el = (globalThis as unknown as { document: { activeElement: { textContent: string | null; getAttribute(n: string): string | null } | null } }).document.activeElement;
        return { text: el?.textContent?.trim() ?? '', type: el?.getAttribute('type') ?? null };
      });
    const tabTo = async (is: () => Promise<boolean>, what: string) => {
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press('Tab');
        if (await is()) return;
      }
      throw new Error(`Tab never reached ${what}`);
    };
    await tabTo(async () => (await focused()).text === 'Upload', 'the Upload link');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Upload', level: 1 }).waitFor();
    // The operation is a radio group: arrows move the choice.
    await page.getByRole('radio', { name: 'Remove background', exact: true }).focus();
    await page.keyboard.press('ArrowDown');
    expect(await page.getByRole('radio', { name: 'Upscale 2×', exact: true }).isChecked()).toBe(true);
    // The drop zone's file input is reachable, and Space opens the file chooser.
    await tabTo(async () => (await focused()).type === 'file', 'the file input');
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Space')]);
    expect(chooser.isMultiple()).toBe(true);
    await chooser.setFiles([]);
  }, TIMEOUT);

  it('reconnects a lost event stream and catches up', async () => {
    await ui.nav('Upload');
    const streams = () => app.requests.filter((r) => r.url === '/images/events').length;
    const before = streams();
    app.app.server.closeAllConnections(); // every socket, the event stream's included
    await page.getByText('Live updates interrupted').waitFor();
    await waitFor(async () => streams() > before && !(await page.getByText('Live updates interrupted').isVisible()), 30_000, 'the stream to come back');
    // Live again: a new upload reaches processed without a reload.
    await choose(page, 'Upscale 2×');
    await page.locator('input[type=file]').setInputFiles(files[4]!);
    await page.getByRole('button', { name: 'Upload 1 image (1 credit)' }).click();
    await page.locator('li.upload-row', { hasText: files[4]!.name }).getByText('Processed', { exact: true }).waitFor({ timeout: 120_000 });
  }, TIMEOUT);

  it('threw no error in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});

describe.runIf(chromiumAvailable)('the dashboard under limits (local mode)', () => {
  let app: ServedApp;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let page: Page;
  let files: Photo[];

  beforeAll(async () => {
    // Two requests a second per shop: the first screen alone needs more, so some get 429.
    [app, browser, files] = await Promise.all([
      serveApp({ FREE_CREDITS: '1', RL_BURST_LIMIT: '2', RL_BURST_WINDOW: '1' }),
      launchBrowser(),
      photos(2),
    ]);
    page = await browser.context.newPage();
    page.setDefaultTimeout(30_000);
  }, TIMEOUT);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('429: waits for Retry-After and retries until the page is complete', async () => {
    await signIn(page, app, 'limits.myshopify.com');
    await page.locator('[data-count="total"] dd').waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Credits', exact: true }).click();
    await page.getByRole('heading', { name: '100 credits' }).waitFor();
    await page.getByRole('cell', { name: 'Welcome credits' }).waitFor();
    const limited = app.requests.filter((r) => r.status === 429);
    expect(limited.length, 'the limit was reached').toBeGreaterThan(0);
    // Each refused request was answered later (an open event stream has no status yet).
    const answered = (o: ServedApp['requests'][number]) => o.status === 200 || (o.url === '/images/events' && o.status === 0);
    await waitFor(async () => app.requests.some((o) => o.url === '/images/events' && answered(o)), 30_000, 'the event stream');
    for (const r of limited) {
      expect(app.requests.some((o) => o.url === r.url && o.method === r.method && answered(o)), `${r.method} ${r.url} retried`).toBe(true);
    }
  }, TIMEOUT);

  it('402: out of credits offers to buy them', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Upload', exact: true }).click();
    await choose(page, 'Downscale');
    await page.locator('input[type=file]').setInputFiles(files);
    await page.getByText('2 images, 1 credits').waitFor();
    await page.getByRole('button', { name: 'Upload 2 images (2 credits)' }).click();
    const banner = page.locator('.Polaris-Banner', { hasText: 'Not enough credits' });
    await banner.waitFor();
    expect(await page.locator('li.upload-row', { hasText: 'Not uploaded' }).count()).toBe(1);
    await banner.getByRole('button', { name: 'Buy credits' }).click();
    await page.getByRole('heading', { name: 'Credits', level: 1 }).waitFor();
  }, TIMEOUT);
});
