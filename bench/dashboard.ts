/**
 * Scenario 11 (issue 17): the dashboard's first load. The built API in its
 * own process (embedded mode), Debian's Chromium with an empty cache each
 * time, signed in by dev-login first: bytes of JS and CSS on the wire
 * (as the browser received them, brotli or gzip) and the time from the start
 * of navigation until Home shows the balance (the page's `credits-visible`
 * mark). Median of several cold loads, and one warm load (cached assets).
 * Run alone with `npx tsx bench/dashboard.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { freePort, spawnEntry, waitFor } from '../test/helpers/process.js';
import { CHROMIUM, CHROMIUM_ARGS, webBuild } from '../test/browser/harness.js';

export interface DashboardLoad {
  runs: number;
  /** Median of the cold loads. */
  creditsVisibleMs: number;
  worstMs: number;
  warmMs: number;
  /** As the browser received them (its Accept-Encoding allows brotli). */
  jsBytes: number;
  cssBytes: number;
  /** The same files gzip-encoded, for a browser without brotli. */
  gzipBytes: number;
  requests: number;
  encoding: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function dashboardBench(runs = 5): Promise<DashboardLoad> {
  const dist = await webBuild();
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-dashboard-'));
  const url = `http://localhost:${port}`;
  const api = spawnEntry('src/main/api.ts', {
    PORT: String(port),
    HOST: '127.0.0.1',
    BACKEND_URL: url,
    DATA_DIR: dataDir,
    WEB_DIST_DIR: dist,
    LOG_LEVEL: 'warn',
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    await waitFor(async () => (await fetch(`${url}/health`)).ok, 120_000, 'the API');
    const times: number[] = [];
    let bytes = { js: 0, css: 0, requests: 0, encoding: '', urls: [] as string[] };
    let warmMs = 0;
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      // Signed in as a merchant is (the cookie), before the measured load; this loads no asset.
      await page.goto(`${url}/auth/dev-login?shop=bench.myshopify.com`);
      const sized: Array<Promise<{ type: string; url: string; body: number; encoding: string }>> = [];
      page.on('response', (response) => {
        const type = response.request().resourceType();
        if (type !== 'script' && type !== 'stylesheet') return;
        sized.push(
          response
            .request()
            .sizes()
            .then(async (s) => ({
              type,
              url: response.url(),
              body: s.responseBodySize,
              encoding: (await response.allHeaders())['content-encoding'] ?? 'identity',
            })),
        );
      });
      const visible = async () => {
        await page.locator('#credits-balance').waitFor({ timeout: 60_000 });
        return page.evaluate(() => (globalThis as unknown as { performance: { getEntriesByName(n: string): Array<{ startTime: number }> } }).performance.getEntriesByName('credits-visible')[0]!.startTime);
      };
      await page.goto(`${url}/app`);
      times.push(await visible());
      const loaded = await Promise.all(sized);
      bytes = {
        js: loaded.filter((r) => r.type === 'script').reduce((a, r) => a + r.body, 0),
        css: loaded.filter((r) => r.type === 'stylesheet').reduce((a, r) => a + r.body, 0),
        requests: loaded.length,
        encoding: [...new Set(loaded.map((r) => r.encoding))].join(', '),
        urls: loaded.map((r) => r.url),
      };
      if (i === runs - 1) {
        await page.goto(`${url}/app`); // the same context: assets come from the cache
        warmMs = await visible();
      }
      await context.close();
    }
    let gzipBytes = 0;
    for (const asset of bytes.urls) {
      const res = await fetch(asset, { headers: { 'accept-encoding': 'gzip' } });
      gzipBytes += Number(res.headers.get('content-length'));
      await res.arrayBuffer();
    }
    return {
      runs,
      gzipBytes,
      creditsVisibleMs: median(times),
      worstMs: Math.max(...times),
      warmMs,
      jsBytes: bytes.js,
      cssBytes: bytes.css,
      requests: bytes.requests,
      encoding: bytes.encoding,
    };
  } finally {
    await browser.close();
    api.child.kill('SIGTERM');
    await api.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  process.stdout.write(`${JSON.stringify(await dashboardBench(), null, 2)}\n`);
}
