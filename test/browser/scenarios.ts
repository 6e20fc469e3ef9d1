/**
 * What a merchant does in the dashboard, written once and run in both modes
 * (local: the page itself; embedded: the app framed by the admin stand-in).
 */
import { buffer } from 'node:stream/consumers';
import { readFile } from 'node:fs/promises';
import { sql } from 'drizzle-orm';
import sharp from 'sharp';
import { queryRows } from '../../src/adapters/db/client.js';
import type { Frame, Page } from 'playwright-core';
import { expect } from 'vitest';
import { productShots } from '../helpers/product-shots.js';
import { waitFor } from '../helpers/process.js';
import { type FakeShopify, startFakeShopify } from '../fakes/shopify.js';
import { API_KEY, API_SECRET, SHOPIFY_ENV } from '../helpers/shopify.js';
import { type AdminStandIn, installAdminStandIn } from './admin-stand-in.js';
import { expectAccessible, launchBrowser, screenshot, serveApp, type ServedApp } from './harness.js';

export interface Ui {
  page: Page;
  /** Where the app's document is: the page, or the admin's iframe. */
  app(): Promise<Page | Frame>;
  /** Follows the app's own navigation (its sidebar, or the admin's). */
  nav(label: string): Promise<void>;
  /** A full reload, as a merchant pressing F5. */
  reload(): Promise<void>;
  /** screenshot and axe names start with it. */
  mode: 'local' | 'embedded';
}

export interface Photo {
  name: string;
  mimeType: string;
  buffer: Buffer;
}

/** Real-looking product photos (test/helpers/product-shots.ts), as files a merchant picks. */
export async function photos(n: number): Promise<Photo[]> {
  const shots = (await productShots()).slice(0, n);
  return Promise.all(
    shots.map(async (shot, i) => {
      const jpeg = i % 2 === 0;
      return {
        name: `${shot.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.${jpeg ? 'jpg' : 'png'}`,
        mimeType: jpeg ? 'image/jpeg' : 'image/png',
        buffer: jpeg ? await sharp(shot.input).jpeg({ quality: 88 }).toBuffer() : await sharp(shot.input).png().toBuffer(),
      };
    }),
  );
}

/** Picks a Polaris radio choice (its drawn circle sits over the input, so the click goes through it). */
export async function choose(doc: Page | Frame, label: string): Promise<void> {
  await doc.getByRole('radio', { name: label, exact: true }).check({ force: true });
}

export async function balance(ui: Ui): Promise<number> {
  const text = await (await ui.app()).locator('#credits-balance').textContent();
  return Number(text);
}

/** Checks the page (axe) and saves its screenshot. */
export async function capture(ui: Ui, name: string): Promise<void> {
  await expectAccessible(await ui.app(), `${ui.mode} ${name}`);
  await screenshot(ui.page, `${ui.mode}-${name}`);
}

const imageStatusReads = (app: ServedApp) =>
  app.requests.filter((r) => r.method === 'GET' && /^\/images(\/[0-9a-f-]{36})?(\?|$)/.test(r.url)).length;

/**
 * Uploads one photo per operation (and two at once for the last), and waits
 * for each row to say Processed: the page learns it from the event stream
 * only (the server sees no status read meanwhile).
 */
export async function uploadEachOperation(ui: Ui, app: ServedApp, files: Photo[]): Promise<void> {
  await ui.nav('Upload');
  const doc = await ui.app();
  await doc.getByRole('heading', { name: 'Upload', level: 1 }).waitFor();
  const readsBefore = imageStatusReads(app);
  const runs: Array<{ label: string; files: Photo[] }> = [
    { label: 'Remove background', files: [files[0]!] },
    { label: 'Upscale 2×', files: [files[1]!] },
    { label: 'Downscale', files: [files[2]!, files[3]!] },
  ];
  for (const run of runs) {
    await choose(doc, run.label);
    if (run.label === 'Remove background') {
      await doc.getByLabel('Background', { exact: true }).selectOption('white');
      await doc.getByLabel('Framing', { exact: true }).selectOption('square');
    }
    await doc.locator('input[type=file]').setInputFiles(run.files);
    const n = run.files.length;
    await doc.getByRole('button', { name: n === 1 ? 'Upload 1 image (1 credit)' : `Upload ${n} images (${n} credits)` }).click();
    for (const file of run.files) {
      await doc.locator('li.upload-row', { hasText: file.name }).getByText('Processed', { exact: true }).waitFor({ timeout: 120_000 });
    }
  }
  expect(imageStatusReads(app), 'statuses came from the event stream, not from polling').toBe(readsBefore);
  await capture(ui, 'upload');
}

/** The gallery compares and downloads: the file saved is the stored result, byte for byte. */
export async function galleryDownload(ui: Ui, app: ServedApp, expected: number): Promise<void> {
  await ui.nav('Gallery');
  const doc = await ui.app();
  const downloads = doc.getByRole('button', { name: /^Download the result of / });
  await waitFor(async () => (await downloads.count()) >= expected, 30_000, 'gallery cards');
  const slider = doc.getByRole('slider').first();
  await slider.focus();
  await ui.page.keyboard.press('End');
  expect(await slider.inputValue()).toBe('100');

  const [download] = await Promise.all([ui.page.waitForEvent('download'), downloads.first().click()]);
  const saved = await readFile((await download.path())!);
  // The first card is the newest result.
  const [newest] = await queryRows<{ processed_path: string }>(
    app.container.db,
    sql`select processed_path from images where status = 'processed' order by created_at desc, id desc limit 1`,
  );
  const stored = await buffer((await app.container.storage.get(newest!.processed_path)).body);
  expect(saved.equals(stored)).toBe(true);
  await capture(ui, 'gallery');
}

/** Buys the 100 plan in sandbox: the merchant lands on Home with the credits added. */
export async function buyCredits(ui: Ui): Promise<void> {
  await ui.nav('Home');
  const before = await balance(ui);
  await ui.nav('Credits');
  let doc = await ui.app();
  await doc.getByRole('heading', { name: '100 credits' }).waitFor();
  await doc.getByText('Test mode').waitFor();
  await capture(ui, 'credits');
  await doc.getByRole('button', { name: /^Buy 100 credits for / }).click();
  await waitFor(async () => {
    doc = await ui.app();
    return doc.getByText('100 credits added').isVisible();
  }, 60_000, 'the purchase to land on Home');
  expect(await balance(ui)).toBe(before + 100);
}

/** A setting changed, saved, and still there after a full reload; an avatar uploaded. */
export async function changeSettings(ui: Ui, avatar: Photo): Promise<void> {
  await ui.nav('Settings');
  let doc = await ui.app();
  const optimize = doc.getByLabel('Optimize results');
  await optimize.waitFor();
  expect(await optimize.isChecked()).toBe(false);
  await optimize.check();
  await doc.getByRole('button', { name: 'Save' }).first().click();
  await doc.getByText('Settings saved').waitFor();
  await doc.locator('input[type=file]').setInputFiles(avatar);
  await doc.getByRole('img', { name: 'Your avatar' }).waitFor();
  await capture(ui, 'settings');

  await ui.reload();
  await ui.nav('Settings');
  doc = await ui.app();
  await doc.getByLabel('Optimize results').waitFor();
  expect(await doc.getByLabel('Optimize results').isChecked()).toBe(true);
  expect(await doc.getByLabel('Remove the background when an upload names no operation').isChecked()).toBe(false);
  await doc.getByRole('img', { name: 'Your avatar' }).waitFor();
}

/** Local mode: the app is the page; its own sidebar navigates. */
export function localUi(page: Page, app: ServedApp): Ui {
  return {
    page,
    mode: 'local',
    app: async () => page,
    nav: async (label) => {
      await page.getByRole('navigation').getByRole('link', { name: label, exact: true }).click();
      await page.getByRole('heading', { name: label, level: 1 }).waitFor();
    },
    reload: async () => {
      await page.goto(`${app.url}/app`);
      await page.locator('#credits-balance').waitFor();
    },
  };
}

/** Local mode's sign-in, from the root URL as a person would start. */
export async function signIn(page: Page, app: ServedApp, shop = 'demo.myshopify.com') {
  await page.goto(`${app.url}/`); // the root leads to /app
  expect(new URL(page.url()).pathname).toBe('/app');
  const field = page.getByLabel('Shop domain');
  await field.fill(shop);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#credits-balance').waitFor();
}

/**
 * A catalogue photo (the first product's) processed with review first,
 * reviewed before/after, applied, restored byte for byte, and its history shown.
 */
export async function processApplyRestore(ui: Ui, app: ServedApp): Promise<void> {
  await ui.nav('Products');
  const doc = await ui.app();
  const tile = doc.locator('.media-tile').first();
  await tile.waitFor();
  const imageBytes = async () => {
    const src = await tile.locator('img').getAttribute('src');
    return { src, bytes: Buffer.from(await (await fetch(new URL(src!, app.url))).arrayBuffer()) };
  };
  const original = await imageBytes();
  await capture(ui, 'products');

  await tile.getByRole('checkbox').check({ force: true });
  await choose(doc, 'Remove background');
  await choose(doc, 'Review first');
  await doc.getByRole('button', { name: 'Process 1 image (1 credit)' }).click();
  await tile.getByText('Processed', { exact: true }).waitFor({ timeout: 60_000 });

  await tile.getByRole('button', { name: /^Review the result for / }).click();
  const dialog = doc.getByRole('dialog');
  await dialog.getByRole('slider').waitFor();
  await capture(ui, 'products-review');
  await dialog.getByRole('button', { name: 'Replace the image' }).click();
  await tile.getByText('Applied', { exact: true }).waitFor({ timeout: 60_000 });
  expect(await tile.locator('img').getAttribute('src')).not.toBe(original.src);

  await tile.getByRole('button', { name: /^Restore the original of / }).click();
  await waitFor(async () => (await tile.getByText(/^(Restored|Original)$/).count()) > 0, 60_000, 'the restore');
  expect((await imageBytes()).bytes.equals(original.bytes)).toBe(true);

  await tile.getByRole('button', { name: /^History of / }).click();
  await doc.getByRole('dialog').getByText('Remove background').waitFor();
  // Polaris' modal has its own close button beside the footer's.
  await doc.getByRole('dialog').getByRole('button', { name: 'Close' }).last().click();
}

/** A batch over one chosen product, watched until it is done with nothing failed. */
export async function smallBatch(ui: Ui): Promise<void> {
  await ui.nav('Batches');
  const doc = await ui.app();
  await choose(doc, 'Chosen products');
  await doc.getByRole('checkbox').first().check({ force: true });
  await choose(doc, 'Downscale');
  await choose(doc, 'Review first');
  await doc.getByRole('button', { name: 'Start batch' }).click();
  // The only batch of this shop (Polaris cards carry no class of their own to find them by).
  await doc.getByRole('heading', { name: /^Downscale: 1 products$/ }).waitFor();
  await doc.getByText('Done', { exact: true }).waitFor({ timeout: 120_000 });
  expect(await doc.getByText(/ 0 failed /).count()).toBe(1);
  await capture(ui, 'batches');
}

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

/** One server, one browser and one page for a whole test file. */
export interface Session {
  app: ServedApp;
  browser: Browser;
  page: Page;
  ui: Ui;
  files: Photo[];
  /** Errors thrown in the page (the app's frame included). */
  pageErrors: string[];
  close(): Promise<void>;
}

async function openPage(browser: Browser): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(30_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return { page, pageErrors };
}

/** Local mode: the app (with `env`), a browser, `photos` product photos; signed in unless `signedIn: false`. */
export async function localSession(opts: { env?: Record<string, string>; photos?: number; signedIn?: boolean } = {}): Promise<Session> {
  const [app, browser, files] = await Promise.all([serveApp(opts.env), launchBrowser(), photos(opts.photos ?? 0)]);
  const { page, pageErrors } = await openPage(browser);
  const ui = localUi(page, app);
  if (opts.signedIn !== false) await signIn(page, app);
  return {
    app,
    browser,
    page,
    ui,
    files,
    pageErrors,
    async close() {
      await browser.close();
      await app.close();
    },
  };
}

export interface EmbeddedSession extends Session {
  fake: FakeShopify;
  admin: AdminStandIn;
  shop: string;
}

/**
 * Embedded mode: Shopify mode against the fake Shopify (whose catalogue has
 * one product with a photo), framed by the admin stand-in from another site.
 * Not opened: `page.goto(admin.appPage())` installs the app by token exchange.
 */
export async function embeddedSession(opts: { shop: string; photos?: number; scopes?: string }): Promise<EmbeddedSession> {
  const fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET, ...(opts.scopes ? { scopes: opts.scopes } : {}) });
  const [app, browser, files] = await Promise.all([
    // An apply polls the written media until READY: 20 ms apart, not the default 500.
    serveApp({ ...SHOPIFY_ENV, SHOPIFY_ADMIN_URL_TEMPLATE: fake.adminUrlTemplate, SHOPIFY_CDN_URL: fake.cdnUrl, SANDBOX_MODE: 'true', SHOPIFY_MEDIA_POLL_MS: '20' }),
    launchBrowser(),
    photos(Math.max(opts.photos ?? 0, 1)),
  ]);
  fake.catalogue.addProduct(opts.shop, { title: 'Ceramic mug', images: [{ bytes: files[0]!.buffer, alt: 'Ceramic mug' }] });
  const admin = await installAdminStandIn(browser.context, {
    shop: opts.shop,
    apiKey: API_KEY,
    appBase: `${app.url}/app`,
    signSessionToken: (shop) => fake.signSessionToken(shop),
  });
  const { page, pageErrors } = await openPage(browser);
  /** The app's frame in the admin page, once its document has loaded. */
  const appFrame = () =>
    waitFor(async () => {
      const frame = page.frame({ name: 'app-iframe' });
      return frame && (await frame.locator('#root > *').count()) > 0 ? frame : undefined;
    }, 30_000, 'the app frame');
  const ui: Ui = {
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
  return {
    fake,
    admin,
    shop: opts.shop,
    app,
    browser,
    page,
    ui,
    files: files.slice(0, opts.photos ?? 0),
    pageErrors,
    async close() {
      await browser.close();
      await app.close();
      await fake.close();
    },
  };
}
