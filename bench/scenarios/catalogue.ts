/**
 * Scenario 10 (issue 14): a catalogue batch against the fake Shopify in production
 * shape: the built API and one worker (concurrency 4) each started by scripts/start.mjs
 * as `npm start` / `npm run worker` start them, on PostgreSQL, Redis and BullMQ; every
 * media downscaled and written back with `replace`.
 * `BENCH_CATALOGUE_IMAGES` sets the batch size (default 10,000).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { createContainer } from '../../src/container.js';
import { startFakeShopify } from '../../test/fakes/shopify.js';
import { createPostgresDatabase } from '../../test/helpers/db.js';
import { productShot } from '../../test/helpers/images.js';
import { deleteRedisKeys } from '../../test/helpers/redis-keys.js';
import { postgresAvailable, REDIS_TEST_URL, redisAvailable } from '../../test/helpers/services.js';
import { API_KEY, API_SECRET, SHOPIFY_ENV } from '../../test/helpers/shopify.js';
import { figure, type Scenario, type SectionResult } from '../lib/report.js';
import { type Api, rssMiB, startApi } from '../lib/servers.js';

const ID = 'catalogue';
const PER_PRODUCT = 5;
const PAGE_PRODUCTS = 50;
/** Shopify's standard bucket; a faster restore than Shopify's 100/s keeps the run short. */
const COST_LIMIT = 2000;
const RSS_GROWTH_MAX_MIB = 100;

interface Rss {
  start: number;
  warm: number;
  peak: number;
  end: number;
}

/** Calls `check` every second until it returns a value (a failed call counts as none, as in waitFor); throws after `timeoutMs`. */
async function sampleUntil<T>(check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting for the batch');
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** The worker's V8 heap in use (MiB), from its /metrics. */
async function heapMiB(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? 0) / 2 ** 20;
}

/** Bookkeeping of a second shop's batch walked page by page in this process (no worker), GraphQL listing timed apart. */
async function timeWalk(env: Record<string, string>, shop: string, queuePrefix: string): Promise<{ walkMs: number; listingMs: number }> {
  const container = await createContainer(loadConfig({ ...env, QUEUE_PREFIX: queuePrefix }), { loggerOptions: false });
  let walkMs = 0;
  let listingMs = 0;
  try {
    const dry = await container.batches.start(shop, { scope: { all: true }, operation: 'downscale', apply: 'none' });
    let cursor: string | null = null;
    for (let page = 0; ; page++) {
      const t0 = performance.now();
      const listed = await container.catalogue.listProducts(shop, { limit: PAGE_PRODUCTS, ...(cursor ? { cursor } : {}) });
      listingMs += performance.now() - t0;
      cursor = listed.next_cursor;
      const t1 = performance.now();
      await container.batches.walkPage(dry.id, page);
      walkMs += performance.now() - t1;
      if (!cursor) break;
    }
  } finally {
    await container.close();
  }
  // The walk lists the page itself too: its bookkeeping is the walk minus a listing.
  return { walkMs: Math.max(0, walkMs - listingMs), listingMs };
}

async function run(): Promise<SectionResult> {
  const images = Number(process.env.BENCH_CATALOGUE_IMAGES ?? 10_000);
  if (!postgresAvailable || !redisAvailable) return { figures: [], notes: 'Skipped: needs PostgreSQL and Redis.' };
  const products = Math.ceil(images / PER_PRODUCT);
  const id = randomBytes(4).toString('hex');
  const shop = `bench-${id}.myshopify.com`;
  const dryShop = `bench-dry-${id}.myshopify.com`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-catalogue-'));
  const database = await createPostgresDatabase();
  const fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET, costLimit: COST_LIMIT, restoreRate: 1000 });
  const shot = await productShot(48, 36); // small media: decoding them is the bench's cost, not the app's
  for (const s of [shop, dryShop]) {
    for (let p = 0; p < products; p++) fake.catalogue.addProduct(s, { title: `P${p}`, images: Array.from({ length: PER_PRODUCT }, () => ({ bytes: shot })) });
  }
  const env: Record<string, string> = {
    ...SHOPIFY_ENV,
    BACKEND_URL: 'https://api.example.test',
    FRONTEND_URL: 'https://dash.example.test',
    DATABASE_URL: database.url,
    REDIS_URL: REDIS_TEST_URL,
    QUEUE_PREFIX: `bench-cat-${id}`,
    WORKER_CONCURRENCY: '4',
    SHOPIFY_ADMIN_URL_TEMPLATE: fake.adminUrlTemplate,
    SHOPIFY_CDN_URL: fake.cdnUrl,
    SHOPIFY_MEDIA_POLL_MS: '10', // the fake moves a media one step per read: the wait between reads is idle time
    CATALOGUE_BATCH_PAGE_SIZE: String(PAGE_PRODUCTS),
    FREE_CREDITS: String(images * 2),
  };
  let api: Api | null = null;
  let worker: Api | null = null;
  try {
    api = await startApi(env, { dataDir });
    worker = await startApi(env, { dataDir, role: 'worker' });
    const headers = async (s = shop) => ({ authorization: `Bearer ${await fake.signSessionToken(s)}`, 'content-type': 'application/json' });
    await fetch(`${api.base}/me`, { headers: await headers() }); // installs the shop (token exchange)
    await fetch(`${api.base}/me`, { headers: await headers(dryShop) });
    const apiRss: Rss = { start: rssMiB(api.pid), warm: 0, peak: 0, end: 0 };
    const workerRss: Rss = { start: rssMiB(worker.pid), warm: 0, peak: 0, end: 0 };
    let heapWarm = 0;
    const started = Date.now();
    const res = await fetch(`${api.base}/batches`, {
      method: 'POST',
      headers: await headers(),
      body: JSON.stringify({ scope: { all: true }, operation: 'downscale', apply: 'replace' }),
    });
    const batchId = ((await res.json()) as { batch: { id: string } }).batch.id;
    // Sampled once a second, not waitFor's 50 ms: twenty GET /batches/:id a second (a signed token,
    // counts over the batch's rows) were load on the API and PostgreSQL the batch shares the cores with.
    const done = await sampleUntil(
      async () => {
        apiRss.peak = Math.max(apiRss.peak, rssMiB(api!.pid));
        workerRss.peak = Math.max(workerRss.peak, rssMiB(worker!.pid));
        const b = ((await (await fetch(`${api!.base}/batches/${batchId}`, { headers: await headers() })).json()) as {
          batch: { status: string; counts: { applied: number; failed: number } };
        }).batch;
        // "Warm": a tenth of the batch applied (the pools, sharp and the allocator's arenas exist).
        if (!apiRss.warm && b.counts.applied >= images / 10) {
          apiRss.warm = rssMiB(api!.pid);
          workerRss.warm = rssMiB(worker!.pid);
          heapWarm = await heapMiB(worker!.base);
        }
        return b.status === 'done' ? b : undefined;
      },
      30 * 60_000,
    );
    const wallS = (Date.now() - started) / 1000;
    apiRss.end = rssMiB(api.pid);
    workerRss.end = rssMiB(worker.pid);
    const heapEnd = await heapMiB(worker.base);
    const walk = await timeWalk(env, dryShop, `bench-cat-dry-${id}`);
    const throttled = fake.calls.costThrottled + fake.calls.throttled;
    const growth = (r: Rss) => `${r.start.toFixed(0)} MiB idle, ${r.warm.toFixed(0)} after 10 %, peak ${r.peak.toFixed(0)}, end ${r.end.toFixed(0)}`;
    const figures = [
      figure(ID, 'API RSS growth', { value: apiRss.end - apiRss.start, unit: 'MiB', atMost: RSS_GROWTH_MAX_MIB, note: growth(apiRss) }),
      figure(ID, 'worker RSS growth', {
        value: workerRss.end - workerRss.start,
        unit: 'MiB',
        atMost: RSS_GROWTH_MAX_MIB,
        note: `${growth(workerRss)}; V8 heap in use ${heapWarm.toFixed(0)} → ${heapEnd.toFixed(0)} MiB`,
      }),
      figure(ID, 'highest requested GraphQL cost', {
        value: fake.calls.maxRequestedCost,
        unit: 'points',
        atMost: COST_LIMIT - 1,
        note: `bucket ${COST_LIMIT}; lowest left ${fake.calls.minAvailable.toFixed(0)}`,
      }),
      figure(ID, 'throttled answers (retried)', { value: throttled, unit: 'answers' }),
      figure(ID, 'wall time', { value: wallS, unit: 's', note: `${(images / wallS).toFixed(1)} images/s` }),
      figure(ID, 'bookkeeping per image', {
        value: walk.walkMs / images,
        unit: 'ms',
        note: `debit, image, job and run rows in the page transaction; GraphQL listing ${(walk.listingMs / images).toFixed(2)} ms/image apart`,
      }),
      figure(ID, 'applied', { value: done.counts.applied, unit: 'images', atLeast: images }),
      figure(ID, 'failed', { value: done.counts.failed, unit: 'images', atMost: 0 }),
    ];
    const notes = `${images} images (${products} products of ${PER_PRODUCT} media, pages of ${PAGE_PRODUCTS} products) against the fake
Shopify (cost bucket ${COST_LIMIT}, restore 1000/s). The built API and one worker (concurrency 4), started by
scripts/start.mjs as in production, on PostgreSQL, Redis and BullMQ; every media (a 48×36 product photo, small so that
decoding is not the bench's cost) is fetched from the fake CDN, downscaled, stored, then written back with \`replace\`
(staged upload, fileUpdate, polled until READY). RSS from /proc at idle after install, after 10 % applied, and at the end.
The worker runs with scripts/start.mjs's \`--max-semi-space-size=8 --heap-growing-percent=50\` and
\`MALLOC_ARENA_MAX=2\`: without them its V8 heap in use stayed flat but V8 kept a 128 MiB young generation and
an old one ~4x its live size, +190 MiB of RSS over 2,000 images (docs/catalogue.md). Bookkeeping is timed in this process by walking a second shop's identical catalogue
page by page (no worker), its GraphQL listing timed apart.`;
    return { figures, notes };
  } finally {
    await Promise.allSettled([api?.stop(), worker?.stop()]);
    await fake.close();
    await database.drop();
    await deleteRedisKeys(REDIS_TEST_URL, `bench-cat-${id}:*`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export const scenario: Scenario = { id: ID, title: 'Catalogue batch (10,000 images against the fake Shopify)', run };
