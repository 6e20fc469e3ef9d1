/**
 * Scenario 11 (issue 15): the dashboard's first load. The built API started
 * as `npm start` starts it (local mode), Debian's Chromium with an empty cache
 * for each cold load, signed in by dev-login first: the time from the start of
 * navigation until Home shows the balance (the page's `credits-visible` mark),
 * and the JS and CSS bytes on the wire.
 */
import http from 'node:http';
import { chromium, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../../test/browser/harness.js';
import { figure, median, round, type Scenario } from '../lib/report.js';
import { startApi } from '../lib/servers.js';

const ID = 'dashboard';
const COLD_LOADS = 5;

interface Asset {
  type: string;
  url: string;
  body: number;
  encoding: string;
}

/** Milliseconds from navigation start until Home showed the credits. */
async function creditsVisible(page: Page): Promise<number> {
  await page.locator('#credits-balance').waitFor({ timeout: 60_000 });
  return page.evaluate(
    () =>
      (globalThis as unknown as { performance: { getEntriesByName(n: string): Array<{ startTime: number }> } }).performance.getEntriesByName(
        'credits-visible',
      )[0]!.startTime,
  );
}

/** The scripts and stylesheets a page loads, with their body sizes as received. */
function recordAssets(page: Page): () => Promise<Asset[]> {
  const sized: Array<Promise<Asset>> = [];
  page.on('response', (response) => {
    const type = response.request().resourceType();
    if (type !== 'script' && type !== 'stylesheet') return;
    sized.push(
      response
        .request()
        .sizes()
        .then(async (s) => ({ type, url: response.url(), body: s.responseBodySize, encoding: (await response.allHeaders())['content-encoding'] ?? 'identity' })),
    );
  });
  return () => Promise.all(sized);
}

/** The same files as a browser without brotli receives them: the raw bytes of each gzip-encoded body. */
async function gzipBytes(urls: string[]): Promise<number> {
  let total = 0;
  for (const url of urls) {
    total += await new Promise<number>((resolve, reject) => {
      http
        .get(url, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
          if (res.headers['content-encoding'] !== 'gzip') reject(new Error(`${url} was not served gzip-encoded`));
          let n = 0;
          res.on('data', (d: Buffer) => (n += d.length));
          res.on('end', () => resolve(n));
          res.on('error', reject);
        })
        .on('error', reject);
    });
  }
  return total;
}

export const scenario: Scenario = {
  id: ID,
  title: 'Dashboard first load',
  async run() {
    const api = await startApi({ RL_BURST_LIMIT: '1000', RL_SUST_LIMIT: '100000' });
    const url = `http://localhost:${api.port}`;
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const cold: number[] = [];
      let assets: Asset[] = [];
      let warm = 0;
      for (let i = 0; i < COLD_LOADS; i++) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        const page = await context.newPage();
        // Signed in as a merchant is (the cookie), before the measured load; this loads no asset.
        await page.goto(`${url}/auth/dev-login?shop=bench.myshopify.com`);
        const loaded = recordAssets(page);
        await page.goto(`${url}/app`);
        cold.push(await creditsVisible(page));
        assets = await loaded();
        if (i === COLD_LOADS - 1) {
          await page.goto(`${url}/app`); // the same context: assets come from the cache
          warm = await creditsVisible(page);
        }
        await context.close();
      }
      const received = assets.reduce((a, r) => a + r.body, 0);
      const js = assets.filter((r) => r.type === 'script').reduce((a, r) => a + r.body, 0);
      const gzip = await gzipBytes(assets.map((r) => r.url));
      const encodings = [...new Set(assets.map((r) => r.encoding))].join(', ');
      return {
        figures: [
          figure(ID, 'time until Home shows the credits (cold, median)', {
            value: round(median(cold), 0),
            unit: 'ms',
            atMost: 2000,
            note: `${COLD_LOADS} cold loads, worst ${round(Math.max(...cold), 0)} ms`,
          }),
          figure(ID, 'JS + CSS transferred (gzip)', { value: round(gzip / 1000, 1), unit: 'KB', atMost: 500, note: `${assets.length} files` }),
          figure(ID, 'JS + CSS as received', {
            value: round(received / 1000, 1),
            unit: 'KB',
            note: `${encodings}; JS ${round(js / 1000, 1)} KB, CSS ${round((received - js) / 1000, 1)} KB`,
          }),
          figure(ID, 'time until Home shows the credits (warm)', { value: round(warm, 0), unit: 'ms', note: 'the last cold load reloaded: assets from the cache' }),
        ],
        notes: [
          'The built API started as `npm start` does (scripts/start.mjs, local mode), Debian\'s Chromium (headless).',
          `Each of ${COLD_LOADS} cold loads is a fresh browser context (empty cache), signed in by dev-login before the measured navigation to \`/app\`;`,
          'the time is the page\'s own `credits-visible` performance mark (set when Home renders the balance), from the start of navigation.',
          'Bytes are the response bodies of the scripts and stylesheets as Chromium received them (it accepts brotli);',
          'the gzip figure fetches the same files with `Accept-Encoding: gzip`, as a browser without brotli gets them.',
          'The warm load reloads the last context: hashed assets come from the cache, `index.html` and the API calls do not.',
        ].join('\n'),
      };
    } finally {
      await browser.close();
      await api.stop();
    }
  },
};
