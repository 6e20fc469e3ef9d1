/**
 * The dashboard in local mode (no Shopify credentials): dev-login and the
 * session cookie, in Debian's Chromium, against the real app on a real port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/process.js';
import { chromiumAvailable, type ServedApp } from './harness.js';
import {
  balance,
  buyCredits,
  capture,
  changeSettings,
  choose,
  galleryDownload,
  localSession,
  processApplyRestore,
  type Session,
  signIn,
  smallBatch,
  uploadEachOperation,
} from './scenarios.js';

const TIMEOUT = 240_000;

describe.runIf(chromiumAvailable)('the dashboard in local mode', () => {
  let s: Session;

  beforeAll(async () => {
    s = await localSession({ photos: 5, signedIn: false });
  }, TIMEOUT);
  afterAll(async () => {
    await s?.close();
  });

  it('signs in with dev-login and shows the free credits', async () => {
    await s.page.goto(`${s.app.url}/app`);
    await s.page.getByRole('button', { name: 'Sign in' }).waitFor();
    await capture(s.ui, 'sign-in');
    await signIn(s.page, s.app);
    expect(await balance(s.ui)).toBe(10);
    await capture(s.ui, 'home');
  }, TIMEOUT);

  it('uploads an image per operation and watches each reach processed live', async () => {
    await uploadEachOperation(s.ui, s.app, s.files);
    await s.ui.nav('Home');
    expect(await balance(s.ui)).toBe(6);
    await s.page.locator('[data-count="completed"] dd', { hasText: '4' }).waitFor();
  }, TIMEOUT);

  it('compares results in the gallery and downloads the stored file', async () => {
    await galleryDownload(s.ui, s.app, 4);
  }, TIMEOUT);

  it('buys credits in sandbox and lands on Home with them', async () => {
    await buyCredits(s.ui);
  }, TIMEOUT);

  it('changes settings and sees them after a reload', async () => {
    await changeSettings(s.ui, s.files[4]!);
  }, TIMEOUT);

  it('removes a demo product image background, applies it, and restores the original byte for byte', async () => {
    await processApplyRestore(s.ui, s.app);
  }, TIMEOUT);

  it('runs a small batch over a chosen product and watches it finish live', async () => {
    await smallBatch(s.ui);
  }, TIMEOUT);

  it('works from the keyboard alone', async () => {
    await s.ui.reload();
    // What has the focus (the page's document.activeElement; this file is typed without the DOM).
    const focused = () =>
      s.page.evaluate(() => {
        const el = (globalThis as unknown as { document: { activeElement: { textContent: string | null; getAttribute(n: string): string | null } | null } }).document.activeElement;
        return { text: el?.textContent?.trim() ?? '', type: el?.getAttribute('type') ?? null };
      });
    const tabTo = async (is: () => Promise<boolean>, what: string) => {
      for (let i = 0; i < 40; i++) {
        await s.page.keyboard.press('Tab');
        if (await is()) return;
      }
      throw new Error(`Tab never reached ${what}`);
    };
    await tabTo(async () => (await focused()).text === 'Upload', 'the Upload link');
    await s.page.keyboard.press('Enter');
    await s.page.getByRole('heading', { name: 'Upload', level: 1 }).waitFor();
    // The operation is a radio group: arrows move the choice.
    await s.page.getByRole('radio', { name: 'Remove background', exact: true }).focus();
    await s.page.keyboard.press('ArrowDown');
    expect(await s.page.getByRole('radio', { name: 'Upscale 2×', exact: true }).isChecked()).toBe(true);
    // The drop zone's file input is reachable, and Space opens the file chooser.
    await tabTo(async () => (await focused()).type === 'file', 'the file input');
    const [chooser] = await Promise.all([s.page.waitForEvent('filechooser'), s.page.keyboard.press('Space')]);
    expect(chooser.isMultiple()).toBe(true);
    await chooser.setFiles([]);
  }, TIMEOUT);

  it('reconnects a lost event stream and catches up', async () => {
    await s.ui.nav('Upload');
    const streams = () => s.app.requests.filter((r) => r.url === '/images/events').length;
    const before = streams();
    s.app.app.server.closeAllConnections(); // every socket, the event stream's included
    await s.page.getByText('Live updates interrupted').waitFor();
    await waitFor(async () => streams() > before && !(await s.page.getByText('Live updates interrupted').isVisible()), 30_000, 'the stream to come back');
    // Live again: a new upload reaches processed without a reload.
    await choose(s.page, 'Upscale 2×');
    await s.page.locator('input[type=file]').setInputFiles(s.files[4]!);
    await s.page.getByRole('button', { name: 'Upload 1 image (1 credit)' }).click();
    await s.page.locator('li.upload-row', { hasText: s.files[4]!.name }).getByText('Processed', { exact: true }).waitFor({ timeout: 120_000 });
  }, TIMEOUT);

  it('threw no error in the page', () => {
    expect(s.pageErrors).toEqual([]);
  });
});

describe.runIf(chromiumAvailable)('the dashboard under limits (local mode)', () => {
  let s: Session;

  beforeAll(async () => {
    // Two requests a second per shop: the first screen alone needs more, so some get 429.
    s = await localSession({ env: { FREE_CREDITS: '1', RL_BURST_LIMIT: '2', RL_BURST_WINDOW: '1' }, photos: 2, signedIn: false });
  }, TIMEOUT);
  afterAll(async () => {
    await s?.close();
  });

  it('429: waits for Retry-After and retries until the page is complete', async () => {
    await signIn(s.page, s.app, 'limits.myshopify.com');
    await s.page.locator('[data-count="total"] dd').waitFor();
    await s.page.getByRole('navigation').getByRole('link', { name: 'Credits', exact: true }).click();
    await s.page.getByRole('heading', { name: '100 credits' }).waitFor();
    await s.page.getByRole('cell', { name: 'Welcome credits' }).waitFor();
    const limited = s.app.requests.filter((r) => r.status === 429);
    expect(limited.length, 'the limit was reached').toBeGreaterThan(0);
    // Each refused request was answered later (an open event stream has no status yet).
    const answered = (o: ServedApp['requests'][number]) => o.status === 200 || (o.url === '/images/events' && o.status === 0);
    await waitFor(async () => s.app.requests.some((o) => o.url === '/images/events' && answered(o)), 30_000, 'the event stream');
    for (const r of limited) {
      expect(s.app.requests.some((o) => o.url === r.url && o.method === r.method && answered(o)), `${r.method} ${r.url} retried`).toBe(true);
    }
  }, TIMEOUT);

  it('402: out of credits offers to buy them', async () => {
    await s.page.getByRole('navigation').getByRole('link', { name: 'Upload', exact: true }).click();
    await choose(s.page, 'Downscale');
    await s.page.locator('input[type=file]').setInputFiles(s.files);
    await s.page.getByText('2 images, 1 credits').waitFor();
    await s.page.getByRole('button', { name: 'Upload 2 images (2 credits)' }).click();
    const banner = s.page.locator('.Polaris-Banner', { hasText: 'Not enough credits' });
    await banner.waitFor();
    expect(await s.page.locator('li.upload-row', { hasText: 'Not uploaded' }).count()).toBe(1);
    await banner.getByRole('button', { name: 'Buy credits' }).click();
    await s.page.getByRole('heading', { name: 'Credits', level: 1 }).waitFor();
  }, TIMEOUT);
});
