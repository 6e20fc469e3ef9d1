import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/adapters/db/client.js';
import { type FakeShopify, startFakeShopify } from '../fakes/shopify.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { productShot } from '../helpers/images.js';
import { waitFor } from '../helpers/process.js';
import { API_KEY, API_SECRET, BACKEND_URL, FRONTEND_URL, SHOPIFY_ENV } from '../helpers/shopify.js';

interface Media {
  id: string;
  alt: string | null;
  state: string;
  image_id: string | null;
}

const enc = encodeURIComponent;

async function shopifyApp(fake: FakeShopify): Promise<TestApp> {
  return createTestApp({
    jobs: true,
    env: {
      ...SHOPIFY_ENV,
      SHOPIFY_ADMIN_URL_TEMPLATE: fake.adminUrlTemplate,
      SHOPIFY_CDN_URL: fake.cdnUrl,
      BACKEND_URL,
      FRONTEND_URL,
      FREE_CREDITS: '10',
      // Every apply polls the written media until READY (two reads in the fake): not 500 ms apart.
      SHOPIFY_MEDIA_POLL_MS: '20',
    },
  });
}

describe('the catalogue in Shopify mode, against the fake Shopify', () => {
  let fake: FakeShopify;
  let t: TestApp;
  const shop = 'store.myshopify.com';
  let auth: () => Promise<Record<string, string>>;

  beforeAll(async () => {
    fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET });
    t = await shopifyApp(fake);
    auth = async () => ({ authorization: `Bearer ${await fake.signSessionToken(shop)}` });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  const get = async (url: string) => t.app.inject({ url, headers: await auth() });
  const post = async (url: string, payload: unknown) => t.app.inject({ method: 'POST', url, payload: payload as object, headers: await auth() });
  const credits = async () => ((await get('/credits/me')).json() as { credits: number }).credits;
  const mediaOf = async (productTitle: string) => {
    const res = await get(`/products?query=${enc(`title:${productTitle}`)}`);
    expect(res.statusCode).toBe(200);
    return (res.json() as { products: Array<{ id: string; media: Media[] }> }).products[0]!;
  };
  const waitState = (title: string, mediaId: string, states: string[]) =>
    waitFor(async () => {
      const m = (await mediaOf(title)).media.find((x) => x.id === mediaId);
      return m && states.includes(m.state) ? m : undefined;
    }, 30_000, `${mediaId} in ${states.join('/')}`);

  it('replaces a product image through staged uploads and fileUpdate, then restores it byte for byte', async () => {
    const original = await productShot(120, 90);
    const product = fake.catalogue.addProduct(shop, {
      title: 'Linen shirt',
      images: [
        { bytes: original, alt: 'A linen shirt', width: 120, height: 90 },
        { bytes: await productShot(60, 60), alt: 'Detail', width: 60, height: 60 },
      ],
    });
    const [first, second] = product.media;
    const listed = await mediaOf('Linen shirt');
    expect(listed.media.map((m) => m.id)).toEqual([first, second]);
    expect(listed.media[0]).toMatchObject({ alt: 'A linen shirt', state: 'original' });

    const res = await post('/products/media/process', { media_ids: [first], operation: 'upscale', apply: 'replace' });
    expect(res.statusCode).toBe(202);
    const applied = await waitState('Linen shirt', first!, ['applied', 'failed']);
    expect(applied.state).toBe('applied');
    const file = fake.catalogue.files.get(first!)!;
    expect(file.status).toBe('READY');
    expect(file.bytes.equals(original)).toBe(false);
    expect(file.alt).toBe('A linen shirt');
    expect(fake.catalogue.catalogueCalls.stagedUploadsCreate).toBeGreaterThanOrEqual(1);
    expect(fake.catalogue.productMedia(product.id).map((f) => f.id)).toEqual([first, second]);

    const restored = await post(`/products/media/${enc(first!)}/restore`, {});
    expect(restored.statusCode).toBe(200);
    expect((restored.json() as { media: Media }).media).toMatchObject({ id: first, state: 'restored', alt: 'A linen shirt' });
    const back = fake.catalogue.files.get(first!)!;
    expect(back.bytes.equals(original)).toBe(true);
    expect(back.status).toBe('READY');
    expect(back.alt).toBe('A linen shirt');
    expect(fake.catalogue.productMedia(product.id).map((f) => f.id)).toEqual([first, second]);
  });

  it('adds a result beside the original with fileCreate + referencesToAdd, once', async () => {
    const product = fake.catalogue.addProduct(shop, { title: 'Wool scarf', images: [{ bytes: await productShot(80, 80), alt: 'Scarf' }] });
    const [mediaId] = product.media;
    await mediaOf('Wool scarf');
    const res = await post('/products/media/process', { media_ids: [mediaId], operation: 'downscale', apply: 'none' });
    const imageId = (res.json() as { images: Array<{ id: string }> }).images[0]!.id;
    await waitState('Wool scarf', mediaId!, ['processed']);
    const applied = await post(`/products/media/${enc(mediaId!)}/apply`, { image_id: imageId, mode: 'add' });
    expect(applied.statusCode).toBe(200);
    await post(`/products/media/${enc(mediaId!)}/apply`, { image_id: imageId, mode: 'add' });
    expect(fake.catalogue.productMedia(product.id)).toHaveLength(2);
    expect((await post(`/products/media/${enc(mediaId!)}/restore`, {})).statusCode).toBe(200);
    expect(fake.catalogue.productMedia(product.id).map((f) => f.id)).toEqual([mediaId]);
  });

  it('retries throttled GraphQL answers within the cost limit', async () => {
    fake.catalogue.addProduct(shop, { title: 'Throttled lamp', images: [{ bytes: await productShot(40, 40) }] });
    const before = fake.calls.throttled;
    fake.throttleNext(2, { requestedQueryCost: 50, currentlyAvailable: 0, restoreRate: 1000 });
    const res = await get('/products?query=lamp');
    expect(res.statusCode).toBe(200);
    expect(fake.calls.throttled - before).toBe(2);
    expect(fake.calls.maxRequestedCost).toBeLessThanOrEqual(2000);
  });

  it('refuses sources off the CDN, on private addresses or redirecting there: failed and refunded once', async () => {
    const hostile = [
      'http://127.0.0.1:9/shot.jpg',
      'http://10.1.2.3/shot.jpg',
      'http://169.254.169.254/latest/meta-data',
      fake.catalogue.redirectUrl('http://127.0.0.1:9/shot.jpg'),
      fake.catalogue.redirectUrl('http://192.168.1.1/shot.jpg'),
    ];
    const product = fake.catalogue.addProduct(shop, { title: 'Hostile vase', images: await Promise.all(hostile.map(async () => ({ bytes: await productShot(30, 30) }))) });
    product.media.forEach((id, i) => (fake.catalogue.files.get(id)!.urlOverride = hostile[i]));
    await mediaOf('Hostile vase');
    const balance = await credits();
    const res = await post('/products/media/process', { media_ids: product.media, operation: 'upscale', apply: 'replace' });
    expect(res.statusCode).toBe(202);
    const ids = (res.json() as { images: Array<{ id: string }> }).images.map((i) => i.id);
    for (const id of ids) {
      const image = await waitFor(async () => {
        const r = (await get(`/images/${id}`)).json() as { status: string; error_message: string | null };
        return r.status === 'failed' || r.status === 'processed' ? r : undefined;
      }, 30_000, `image ${id}`);
      expect(image.status).toBe('failed');
      expect(image.error_message).toMatch(/refused/i);
    }
    const refunds = await queryRows<{ reference: string; n: number }>(
      t.container.db,
      sql`select reference, count(*)::int as n from credit_transactions where shop = ${shop} and reason = 'refund' group by reference`,
    );
    for (const id of ids) expect(refunds.find((r) => r.reference === id)?.n).toBe(1);
    expect(await credits()).toBe(balance);
    expect(fake.catalogue.productMedia(product.id).every((f) => f.version === 1)).toBe(true);
  });

  it('shop/redact removes the kept originals and the catalogue state', async () => {
    const kept = await queryRows<{ original_path: string }>(
      t.container.db,
      sql`select i.original_path from media_runs r join images i on i.id = r.image_id where r.shop = ${shop} and i.status = 'processed'`,
    );
    expect(kept.length).toBeGreaterThan(0);
    expect(await t.container.storage.exists(kept[0]!.original_path)).toBe(true);
    const body = JSON.stringify({ shop_id: 1, shop_domain: shop });
    const res = await t.app.inject({ method: 'POST', url: '/webhooks/shop/redact', payload: body, headers: fake.webhookHeaders(shop, 'shop/redact', body) });
    expect(res.statusCode).toBe(200);
    for (const k of kept) expect(await t.container.storage.exists(k.original_path)).toBe(false);
    const left = await queryRows<{ n: number }>(
      t.container.db,
      sql`select (select count(*) from media_runs where shop = ${shop}) + (select count(*) from catalogue_media_index where shop = ${shop}) as n`,
    );
    expect(Number(left[0]!.n)).toBe(0);
  });
});

describe('a shop that did not grant the files scopes', () => {
  let fake: FakeShopify;
  let t: TestApp;

  beforeAll(async () => {
    fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET, scopes: 'read_products,write_products' });
    t = await shopifyApp(fake);
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('gets 403 MISSING_SCOPES with the list', async () => {
    const headers = { authorization: `Bearer ${await fake.signSessionToken('narrow.myshopify.com')}` };
    const res = await t.app.inject({ url: '/products', headers });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual({ error: expect.any(String), code: 'MISSING_SCOPES', scopes: ['read_files', 'write_files'] });
    const batch = await t.app.inject({ method: 'POST', url: '/batches', headers, payload: { scope: { all: true }, operation: 'upscale', apply: 'none' } });
    expect(batch.statusCode).toBe(403);
    expect(batch.json()).toMatchObject({ code: 'MISSING_SCOPES' });
  });
});
