/**
 * How the API serves the dashboard at /app: caching, encodings, the mode
 * tags in index.html, framing by the admin, and the landing pages of the
 * compat redirects. A small build of our own stands in for dist/web here
 * (test/browser/ runs the real one).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { SHOPIFY_ENV } from '../helpers/shopify.js';

const SCRIPT = 'console.log("dashboard");'.repeat(50);
const INDEX = `<!doctype html><html><head><meta charset="utf-8"><!-- app-config --><title>t</title>
<script type="module" crossorigin src="/app/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>`;

function fakeBuild(index = INDEX): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'web-dist-'));
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'index.html'), index);
  const js = path.join(dir, 'assets', 'index-abc123.js');
  writeFileSync(js, SCRIPT);
  writeFileSync(`${js}.br`, brotliCompressSync(SCRIPT));
  writeFileSync(`${js}.gz`, gzipSync(SCRIPT));
  writeFileSync(path.join(dir, 'secret.txt'), 'outside assets');
  return dir;
}

describe('the dashboard at /app (local mode)', () => {
  let t: TestApp;
  let dist: string;
  beforeAll(async () => {
    dist = fakeBuild();
    // One request a second: the page and its assets must not count against it.
    t = await createTestApp({ env: { WEB_DIST_DIR: dist, BACKEND_URL: 'http://localhost:8000', RL_BURST_LIMIT: '1' } });
  });
  afterAll(async () => {
    await t.close();
    rmSync(dist, { recursive: true, force: true });
  });

  it('answers index.html with the mode tags, revalidated every time', async () => {
    const res = await t.app.inject('/app');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.body).toContain('<meta name="app-mode" content="local">');
    expect(res.body).toContain('<meta name="app-sandbox" content="true">');
    expect(res.body).toContain(`<meta name="app-max-upload-bytes" content="${20 * 1024 * 1024}">`);
    expect(res.body).not.toContain('app-bridge.js');
    expect(res.body).not.toContain('<!-- app-config -->');
    const again = await t.app.inject({ url: '/app', headers: { 'if-none-match': String(res.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('answers every client route with the same page, and / leads to /app keeping the query', async () => {
    for (const url of ['/app/', '/app/products', '/app/dashboard?credits_added=100', '/app/a/b/c']) {
      const res = await t.app.inject(url);
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).toContain('id="root"');
    }
    const root = await t.app.inject('/?shop=demo.myshopify.com&host=abc');
    expect(root.statusCode).toBe(302);
    expect(root.headers.location).toBe('/app?shop=demo.myshopify.com&host=abc');
    expect((await t.app.inject('/')).headers.location).toBe('/app');
  });

  it('lets the shop\'s admin frame the page, and nobody else', async () => {
    const framed = await t.app.inject('/app?shop=demo.myshopify.com&host=abc&embedded=1');
    expect(framed.headers['content-security-policy']).toBe('frame-ancestors https://demo.myshopify.com https://admin.shopify.com');
    expect(framed.headers['x-frame-options']).toBeUndefined();
    expect((await t.app.inject('/app')).headers['content-security-policy']).toBe("frame-ancestors 'none'");
  });

  it('serves hashed assets for a year, brotli or gzip as accepted', async () => {
    const url = '/app/assets/index-abc123.js';
    const br = await t.app.inject({ url, headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.statusCode).toBe(200);
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(br.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toMatch(/accept-encoding/i);
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(SCRIPT);

    const gz = await t.app.inject({ url, headers: { 'accept-encoding': 'br;q=0, gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString()).toBe(SCRIPT);

    const plain = await t.app.inject({ url, headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toBe(SCRIPT);
  });

  it('answers 404 for anything that is not an asset of the build, traversal included', async () => {
    for (const url of ['/app/assets/missing.js', '/app/assets/index-abc123.js.br', '/app/assets/..%2Fsecret.txt', '/app/assets/']) {
      const res = await t.app.inject(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.json(), url).toMatchObject({ code: 'NOT_FOUND' });
    }
    // A dot-segment is resolved before routing: it names a client route, whose answer is the page.
    for (const url of ['/app/assets/../secret.txt', '/app/assets/%2e%2e/secret.txt']) {
      const dotted = await t.app.inject(url);
      expect(dotted.body, url).not.toContain('outside assets');
      expect(dotted.body, url).toContain('id="root"');
    }
  });

  it('spends none of the rate limit on the page and its assets', async () => {
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => t.app.inject(i % 2 ? '/app/assets/index-abc123.js' : '/app/credits')),
    );
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it('with the built-in dashboard, a confirmed purchase lands on its Home with the shop named', async () => {
    expect(t.config.http.frontendUrl).toBe('http://localhost:8000/app');
    const { cookie } = await devLogin(t.app, 'lands.myshopify.com');
    const res = await t.app.inject({
      method: 'POST',
      url: '/credits/checkout',
      headers: { cookie, 'content-type': 'application/json' },
      payload: { planId: '100' },
    });
    const confirm = new URL((res.json() as { confirmationUrl: string }).confirmationUrl);
    await new Promise((r) => setTimeout(r, 1100)); // the burst window of 1 request a second
    const landed = await t.app.inject(confirm.pathname + confirm.search);
    expect(landed.statusCode).toBe(302);
    expect(landed.headers.location).toBe('http://localhost:8000/app/dashboard?credits_added=100&shop=lands.myshopify.com');
  });
});

describe('the dashboard at /app (Shopify mode)', () => {
  let t: TestApp;
  let dist: string;
  beforeAll(async () => {
    dist = fakeBuild();
    t = await createTestApp({ env: { ...SHOPIFY_ENV, SHOPIFY_API_KEY: 'key-"<&>', WEB_DIST_DIR: dist } });
  });
  afterAll(async () => {
    await t.close();
    rmSync(dist, { recursive: true, force: true });
  });

  it('puts App Bridge first and the API key (escaped) in the page', async () => {
    const res = await t.app.inject('/app?shop=demo.myshopify.com&host=abc');
    const head = res.body.slice(0, res.body.indexOf('</head>'));
    expect(head).toContain('<meta name="app-mode" content="shopify">');
    expect(head).toContain('<meta name="app-sandbox" content="false">');
    expect(head).toContain('<meta name="shopify-api-key" content="key-&quot;&lt;&amp;&gt;">');
    const bridge = head.indexOf('<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>');
    expect(bridge).toBeGreaterThan(0);
    expect(bridge).toBeLessThan(head.indexOf('<script type="module"'));
  });
});

describe('the dashboard when it is not built', () => {
  let t: TestApp;
  const empty = mkdtempSync(path.join(tmpdir(), 'web-dist-'));
  beforeAll(async () => {
    t = await createTestApp({ env: { WEB_DIST_DIR: empty } });
  });
  afterAll(async () => {
    await t.close();
    rmSync(empty, { recursive: true, force: true });
  });

  it('says how to build it; the API works as before', async () => {
    const res = await t.app.inject('/app');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: 'The dashboard is not built: run npm run build:web', code: 'UNAVAILABLE' });
    expect((await t.app.inject('/app/assets/index.js')).statusCode).toBe(404);
    expect((await t.app.inject('/health')).statusCode).toBe(200);
  });

  it('refuses to start on an index.html without its marker', async () => {
    const dir = fakeBuild('<!doctype html><html><head></head><body></body></html>');
    try {
      await expect(createTestApp({ env: { WEB_DIST_DIR: dir } })).rejects.toThrow(/no "<!-- app-config -->" marker/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
