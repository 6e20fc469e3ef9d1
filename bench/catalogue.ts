/**
 * Scenario (issue 14): a catalogue batch against the fake Shopify in production
 * shape: the API and one worker each in their own process (PostgreSQL, Redis,
 * BullMQ), every media downscaled and written back with `replace`.
 * Figures: API and worker RSS growth over the batch, the highest requested
 * GraphQL cost against the fake's bucket (and how often it throttled), the
 * batch's wall time, and the bookkeeping overhead per image (the page walk's
 * debit + image + job + run rows, timed in this process on a second shop,
 * with the GraphQL listing timed apart).
 * `BENCH_CATALOGUE_IMAGES` (default 10000); run alone with `npx tsx bench/catalogue.ts`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/load.js';
import { createContainer } from '../src/container.js';
import { startFakeShopify } from '../test/fakes/shopify.js';
import { createPostgresDatabase } from '../test/helpers/db.js';
import { productShot } from '../test/helpers/images.js';
import { freePort, spawnEntry, waitFor } from '../test/helpers/process.js';
import { deleteRedisKeys } from '../test/helpers/redis-keys.js';
import { postgresAvailable, REDIS_TEST_URL, redisAvailable } from '../test/helpers/services.js';
import { API_KEY, API_SECRET, SHOPIFY_ENV } from '../test/helpers/shopify.js';

export interface CatalogueBenchResult {
  images: number;
  pages: number;
  wallS: number;
  applied: number;
  failed: number;
  apiRss: { start: number; warm: number; peak: number; end: number };
  workerRss: { start: number; warm: number; peak: number; end: number };
  /** The worker's V8 heap in use (MiB), from its /metrics. */
  workerHeap: { warm: number; end: number };
  costLimit: number;
  maxRequestedCost: number;
  minAvailable: number;
  throttled: number;
  walkMsPerImage: number;
  listingMsPerImage: number;
}

const PER_PRODUCT = 5;
const PAGE_PRODUCTS = 50;
const COST_LIMIT = 2000;

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

export async function catalogueBench(images = Number(process.env.BENCH_CATALOGUE_IMAGES ?? 10_000)): Promise<CatalogueBenchResult | null> {
  if (!postgresAvailable || !redisAvailable) return null;
  const products = Math.ceil(images / PER_PRODUCT);
  const id = randomBytes(4).toString('hex');
  const shop = `bench-${id}.myshopify.com`;
  const dryShop = `bench-dry-${id}.myshopify.com`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-catalogue-'));
  const database = await createPostgresDatabase();
  // Shopify's standard bucket (2000 points); a faster restore than Shopify's 100/s keeps the run short.
  const fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET, costLimit: COST_LIMIT, restoreRate: 1000 });
  const shot = await productShot(48, 36);
  for (const s of [shop, dryShop]) {
    for (let p = 0; p < products; p++) fake.catalogue.addProduct(s, { title: `P${p}`, images: Array.from({ length: PER_PRODUCT }, () => ({ bytes: shot })) });
  }
  const apiPort = await freePort();
  const env: Record<string, string> = {
    ...SHOPIFY_ENV,
    HOST: '127.0.0.1',
    BACKEND_URL: 'https://api.example.test',
    FRONTEND_URL: 'https://dash.example.test',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    DATABASE_URL: database.url,
    REDIS_URL: REDIS_TEST_URL,
    QUEUE_PREFIX: `bench-cat-${id}`,
    WORKER_CONCURRENCY: '4',
    SHOPIFY_ADMIN_URL_TEMPLATE: fake.adminUrlTemplate,
    SHOPIFY_CDN_URL: fake.cdnUrl,
    SHOPIFY_MEDIA_POLL_MS: '20',
    CATALOGUE_BATCH_PAGE_SIZE: String(PAGE_PRODUCTS),
    FREE_CREDITS: String(images * 2),
    RL_BURST_LIMIT: '1000000',
    RL_SUST_LIMIT: '1000000',
  };
  const api = spawnEntry('src/main/api.ts', { ...env, PORT: String(apiPort) });
  const workerPort = await freePort();
  const worker = spawnEntry('src/main/worker.ts', { ...env, WORKER_PORT: String(workerPort), ...(process.env.MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX } : {}) });
  const base = `http://127.0.0.1:${apiPort}`;
  try {
    await waitFor(async () => (await fetch(`${base}/ready`)).ok, 120_000, 'the API');
    await waitFor(async () => (await fetch(`http://127.0.0.1:${workerPort}/ready`)).ok, 120_000, 'the worker');
    const headers = async () => ({ authorization: `Bearer ${await fake.signSessionToken(shop)}`, 'content-type': 'application/json' });
    await fetch(`${base}/me`, { headers: await headers() }); // installs the shop (token exchange)
    const apiStart = await rssOf(api.child.pid!);
    const workerStart = await rssOf(worker.child.pid!);
    const peaks = { api: apiStart, worker: workerStart };
    // "Warm": once a tenth of the batch is applied (the image worker thread, sharp's cache and the pools exist).
    let warm = null as { api: number; worker: number; workerHeap: number } | null;
    const workerHeap = async () => {
      const text = await (await fetch(`http://127.0.0.1:${workerPort}/metrics`)).text();
      return Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? 0) / 2 ** 20;
    };
    const started = Date.now();
    const res = await fetch(`${base}/batches`, {
      method: 'POST',
      headers: await headers(),
      body: JSON.stringify({ scope: { all: true }, operation: 'downscale', apply: 'replace' }),
    });
    const batchId = ((await res.json()) as { batch: { id: string } }).batch.id;
    const done = await waitFor(
      async () => {
        peaks.api = Math.max(peaks.api, await rssOf(api.child.pid!));
        peaks.worker = Math.max(peaks.worker, await rssOf(worker.child.pid!));
        const b = ((await (await fetch(`${base}/batches/${batchId}`, { headers: await headers() })).json()) as {
          batch: { status: string; counts: { applied: number; failed: number } };
        }).batch;
        if (!warm && b.counts.applied >= images / 10) {
          warm = { api: await rssOf(api.child.pid!), worker: await rssOf(worker.child.pid!), workerHeap: await workerHeap() };
        }
        return b.status === 'done' ? b : undefined;
      },
      30 * 60_000,
      'the batch',
    );
    const wallS = (Date.now() - started) / 1000;
    const apiEnd = await rssOf(api.child.pid!);
    const workerEnd = await rssOf(worker.child.pid!);
    const heapEnd = await workerHeap();

    // Bookkeeping, in this process: a second shop's batch walked by hand (no workers here).
    const container = await createContainer(
      { ...loadConfig({ ...env, QUEUE_PREFIX: `bench-cat-dry-${id}` }) },
      { loggerOptions: false },
    );
    let walkMs = 0;
    let listingMs = 0;
    try {
      // Installed through the API like the first shop (token exchange, free credits, scopes).
      await fetch(`${base}/me`, { headers: { authorization: `Bearer ${await fake.signSessionToken(dryShop)}` } });
      const dry = await container.batches.start(dryShop, { scope: { all: true }, operation: 'downscale', apply: 'none' });
      let cursor: string | null = null;
      for (let page = 0; ; page++) {
        const t0 = performance.now();
        const listed = await container.catalogue.listProducts(dryShop, { limit: PAGE_PRODUCTS, ...(cursor ? { cursor } : {}) });
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
    return {
      images,
      pages: Math.ceil(products / PAGE_PRODUCTS),
      wallS,
      applied: done.counts.applied,
      failed: done.counts.failed,
      apiRss: { start: apiStart, warm: warm?.api ?? apiStart, peak: peaks.api, end: apiEnd },
      workerRss: { start: workerStart, warm: warm?.worker ?? workerStart, peak: peaks.worker, end: workerEnd },
      workerHeap: { warm: warm?.workerHeap ?? 0, end: heapEnd },
      costLimit: COST_LIMIT,
      maxRequestedCost: fake.calls.maxRequestedCost,
      minAvailable: fake.calls.minAvailable,
      throttled: fake.calls.costThrottled + fake.calls.throttled,
      // The walk lists the page itself too: its bookkeeping is the walk minus a listing.
      walkMsPerImage: Math.max(0, walkMs - listingMs) / images,
      listingMsPerImage: listingMs / images,
    };
  } finally {
    for (const p of [api, worker]) if (p.child.exitCode === null) p.child.kill('SIGTERM');
    await Promise.allSettled([api.exited, worker.exited]);
    await fake.close();
    await database.drop();
    await deleteRedisKeys(REDIS_TEST_URL, `bench-cat-${id}:*`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const f = (n: number, d = 1) => n.toFixed(d);

export function catalogueReport(r: CatalogueBenchResult | null): string {
  if (!r) return '## Catalogue batch\n\nSkipped: needs PostgreSQL and Redis.\n';
  return `## Catalogue batch (${r.images} images, ${r.pages} pages of ${PAGE_PRODUCTS} products, against the fake Shopify)

The API and one worker (concurrency 4) in their own processes on PostgreSQL, Redis and BullMQ; every
media downscaled and written back with \`replace\` (staged upload, fileUpdate, polled until READY).

| figure | value |
|---|---:|
| wall time | ${f(r.wallS)} s (${f(r.images / r.wallS)} images/s); applied ${r.applied}, failed ${r.failed} |
| API RSS | ${f(r.apiRss.start)} MiB idle, ${f(r.apiRss.warm)} after 10 %, peak ${f(r.apiRss.peak)}, end ${f(r.apiRss.end)} (growth ${f(r.apiRss.end - r.apiRss.start)} MiB; ${f(r.apiRss.end - r.apiRss.warm)} after warm-up) |
| worker RSS | ${f(r.workerRss.start)} MiB idle, ${f(r.workerRss.warm)} after 10 %, peak ${f(r.workerRss.peak)}, end ${f(r.workerRss.end)} (growth ${f(r.workerRss.end - r.workerRss.start)} MiB; ${f(r.workerRss.end - r.workerRss.warm)} after warm-up) |
| worker V8 heap in use | ${f(r.workerHeap.warm)} MiB after 10 %, ${f(r.workerHeap.end)} at the end |
| highest requested GraphQL cost of one query | ${r.maxRequestedCost} of the bucket's ${r.costLimit} |
| lowest points left in the bucket | ${f(r.minAvailable, 0)} |
| THROTTLED answers (retried) | ${r.throttled} |
| bookkeeping per image (debit, image, job and run rows in the page transaction) | ${f(r.walkMsPerImage, 2)} ms |
| catalogue listing per image (GraphQL, for comparison) | ${f(r.listingMsPerImage, 2)} ms |
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(catalogueReport(await catalogueBench()));
}
