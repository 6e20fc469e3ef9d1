import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/adapters/db/client.js';
import { ASSET_PUBLIC_MESSAGE } from '../../src/adapters/processor/makeit3d.js';
import { getImage } from '../../src/modules/images/images.js';
import { balanceOf } from '../../src/modules/ledger/ledger.js';
import { type FakeMakeIt3D, startFakeMakeIt3D } from '../fakes/makeit3d.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { productShot, uploadForm } from '../helpers/images.js';
import { freePort } from '../helpers/net.js';
import { waitFor } from '../helpers/process.js';

/**
 * The provider's result URL is untrusted: one naming loopback, a private or
 * link-local address (literally, by DNS or by redirect) is never fetched; the
 * image fails, is refunded once, and the merchant reads a generic message.
 */
describe('provider asset URLs that point inside', () => {
  let fake: FakeMakeIt3D;
  let t: TestApp;
  let cookie: string;
  let bystander: http.Server;
  let bystanderPort: number;
  let bystanderHits = 0;
  const shop = 'assets.myshopify.com';

  beforeAll(async () => {
    fake = await startFakeMakeIt3D({ completeAfterMs: 20 });
    // Something on this machine that must never be reached through the provider's URLs.
    bystander = http.createServer((_req, res) => {
      bystanderHits++;
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(Buffer.alloc(10));
    });
    await new Promise<void>((resolve) => bystander.listen(0, '127.0.0.1', resolve));
    bystanderPort = (bystander.address() as AddressInfo).port;
    const port = await freePort();
    t = await createTestApp({
      jobs: true,
      env: { MAKEIT3D_API_KEY: fake.apiKey, MAKEIT3D_BASE_URL: fake.url, BACKEND_URL: `http://127.0.0.1:${port}` },
    });
    await t.app.listen({ port, host: '127.0.0.1' });
    ({ cookie } = await devLogin(t.app, shop));
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
    await new Promise((resolve) => bystander.close(resolve));
  });

  const cases: Array<[string, () => { url?: string; redirect?: string }]> = [
    ['http on 127.0.0.1 at another port', () => ({ url: `http://127.0.0.1:${bystanderPort}/r.png` })],
    ['https on a loopback literal', () => ({ url: `https://127.0.0.1:${bystanderPort}/r.png` })],
    ['https on localhost (loopback by DNS)', () => ({ url: `https://localhost:${bystanderPort}/r.png` })],
    ['a private 10.x address', () => ({ url: 'https://10.0.0.7/result.png' })],
    ['a redirect to the metadata address', () => ({ redirect: 'https://169.254.169.254/latest/meta-data' })],
    ['a redirect to 127.0.0.1 at another port', () => ({ redirect: `http://127.0.0.1:${bystanderPort}/r.png` })],
  ];

  it.each(cases)('%s: the image fails, is refunded once, and shows a generic message', async (_label, target) => {
    const { url, redirect } = target();
    fake.controls.assetUrl = url ? () => url : null;
    fake.controls.assetRedirectTo = redirect ?? null;
    try {
      const before = await balanceOf(t.container.db, shop);
      const form = uploadForm(await productShot(), 'upscale');
      const res = await t.app.inject({ method: 'POST', url: '/upload', payload: form.payload, headers: { ...form.headers, cookie } });
      expect(res.statusCode).toBe(202);
      const id = (res.json() as { id: string }).id;
      const image = await waitFor(async () => {
        const row = await getImage(t.container.db, id);
        return row?.status === 'failed' || row?.status === 'processed' ? row : undefined;
      }, 20_000, 'the image to end');
      expect(image.status).toBe('failed');
      expect(image.errorMessage).toBe(ASSET_PUBLIC_MESSAGE);
      const answer = (await t.app.inject({ url: `/images/${id}`, headers: { cookie } })).json() as { error_message: string };
      expect(answer.error_message).not.toMatch(/127\.0\.0\.1|10\.0\.0\.7|169\.254|localhost|ECONN|refused/i);
      expect(await balanceOf(t.container.db, shop)).toBe(before);
      const [refunds] = await queryRows<{ n: number }>(
        t.container.db,
        sql`select count(*)::int as n from credit_transactions where reference = ${id} and reason = 'refund'`,
      );
      expect(refunds!.n).toBe(1);
      expect(bystanderHits).toBe(0);
    } finally {
      fake.controls.assetUrl = null;
      fake.controls.assetRedirectTo = null;
    }
  });

  it('the provider\'s own result URL is still downloaded', async () => {
    const form = uploadForm(await productShot(), 'upscale');
    const res = await t.app.inject({ method: 'POST', url: '/upload', payload: form.payload, headers: { ...form.headers, cookie } });
    const id = (res.json() as { id: string }).id;
    const image = await waitFor(async () => {
      const row = await getImage(t.container.db, id);
      return row?.status === 'failed' || row?.status === 'processed' ? row : undefined;
    }, 20_000, 'the image to end');
    expect(image.status).toBe('processed');
  });
});
