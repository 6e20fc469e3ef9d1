import { sql } from 'drizzle-orm';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/adapters/db/client.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/process.js';

interface Media {
  id: string;
  url: string;
  alt: string | null;
  width: number | null;
  height: number | null;
  state: string;
  image_id: string | null;
}
interface Product {
  id: string;
  title: string;
  media: Media[];
}

const enc = encodeURIComponent;

describe('the catalogue in local mode (demo catalogue)', () => {
  let t: TestApp;
  let cookie: string;
  let other: string;
  const shop = 'catalogue.myshopify.com';

  beforeAll(async () => {
    t = await createTestApp({ jobs: true, env: { FREE_CREDITS: '10' } });
    ({ cookie } = await devLogin(t.app, shop));
    ({ cookie: other } = await devLogin(t.app, 'someone-else.myshopify.com'));
  });
  afterAll(() => t.close());

  const get = (url: string, c = cookie) => t.app.inject({ url, headers: { cookie: c } });
  const post = (url: string, payload: unknown, c = cookie) => t.app.inject({ method: 'POST', url, payload: payload as object, headers: { cookie: c } });
  const products = async (q = '', c = cookie) => {
    const res = await get(`/products${q}`, c);
    expect(res.statusCode).toBe(200);
    return res.json() as { products: Product[]; next_cursor: string | null };
  };
  const credits = async (c = cookie) => ((await get('/credits/me', c)).json() as { credits: number }).credits;
  const mediaNamed = async (id: string) => (await products('?limit=50')).products.flatMap((p) => p.media).find((m) => m.id === id);
  /** The bytes behind a media's URL (a signed /files URL of local storage). */
  const bytesOf = async (url: string) => {
    const u = new URL(url);
    const res = await t.app.inject({ url: u.pathname + u.search });
    expect(res.statusCode).toBe(200);
    return res.rawPayload;
  };
  const waitState = (id: string, states: string[]) =>
    waitFor(async () => {
      const m = await mediaNamed(id);
      return m && states.includes(m.state) ? m : undefined;
    }, 30_000, `media ${id} in ${states.join('/')}`);

  it('lists the demo products with their photos, page by page, searchable', async () => {
    const first = await products('?limit=2');
    expect(first.products).toHaveLength(2);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await products(`?limit=50&cursor=${enc(first.next_cursor!)}`);
    const all = [...first.products, ...second.products];
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    expect(all.length).toBeGreaterThanOrEqual(4);
    const media = all[0]!.media[0]!;
    expect(media).toMatchObject({ id: expect.stringMatching(/^gid:\/\/shopify\/MediaImage\/\d+$/), state: 'original', image_id: null, width: 640, height: 640 });
    const meta = await sharp(await bytesOf(media.url)).metadata();
    expect(meta.format).toBe('jpeg');

    const mugs = await products('?query=mug');
    expect(mugs.products.map((p) => p.title)).toEqual(['Ceramic coffee mug']);
    expect((await get('/products?cursor=not-a-cursor')).json()).toMatchObject({ code: 'INVALID_CURSOR' });
  });

  it('removes a background on a white square, replaces the photo, then restores the original byte for byte', async () => {
    const mug = (await products('?query=mug')).products[0]!;
    const media = mug.media[0]!;
    const original = await bytesOf(media.url);
    const before = await credits();

    const res = await post('/products/media/process', {
      media_ids: [media.id],
      operation: 'remove-bg',
      options: { background: '#ffffff', framing: 'square' },
      apply: 'replace',
    });
    expect(res.statusCode).toBe(202);
    const body = res.json() as { images: Array<{ id: string; media_id: string; status: string }>; remaining_credits: number };
    expect(body.images).toEqual([{ id: expect.any(String), media_id: media.id, status: 'queued' }]);
    expect(body.remaining_credits).toBe(before - 1);
    const [row] = await queryRows<{ options: unknown }>(t.container.db, sql`select options from images where id = ${body.images[0]!.id}`);
    expect(row!.options).toMatchObject({ background: '#ffffff', framing: 'square', format: 'png' });

    const applied = await waitState(media.id, ['applied', 'failed']);
    expect(applied.state).toBe('applied');
    expect(applied.image_id).toBe(body.images[0]!.id);
    expect(applied.alt).toBe(media.alt);
    const after = await bytesOf(applied.url);
    expect(after.equals(original)).toBe(false);
    // The media keeps its place among the product's photos.
    const listed = (await products('?query=mug')).products[0]!;
    expect(listed.media.map((m) => m.id)).toEqual(mug.media.map((m) => m.id));

    const restored = await post(`/products/media/${enc(media.id)}/restore`, {});
    expect(restored.statusCode).toBe(200);
    const back = (restored.json() as { media: Media }).media;
    expect(back).toMatchObject({ id: media.id, state: 'restored', alt: media.alt, width: 640, height: 640 });
    expect((await bytesOf(back.url)).equals(original)).toBe(true);
    expect((await products('?query=mug')).products[0]!.media.map((m) => m.id)).toEqual(mug.media.map((m) => m.id));

    const again = await post(`/products/media/${enc(media.id)}/restore`, {});
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'NOTHING_TO_RESTORE' });

    const history = await get(`/products/media/${enc(media.id)}/history`);
    expect(history.json()).toEqual({
      history: [
        expect.objectContaining({ image_id: body.images[0]!.id, operation: 'remove-bg', state: 'restored', applied_at: expect.any(String), restored_at: expect.any(String) }),
      ],
    });
    expect(await credits()).toBe(before - 1);
  });

  it('keeps a reviewed result until it is applied, and adds it beside the original', async () => {
    const product = (await products('?query=sneaker')).products[0]!;
    const media = product.media[0]!;
    const res = await post('/products/media/process', { media_ids: [media.id], operation: 'downscale', apply: 'none' });
    expect(res.statusCode).toBe(202);
    const imageId = (res.json() as { images: Array<{ id: string }> }).images[0]!.id;
    const processed = await waitState(media.id, ['processed', 'failed']);
    expect(processed.state).toBe('processed');

    const wrong = await post(`/products/media/${enc(media.id)}/apply`, { image_id: imageId, mode: 'add' }, other);
    expect(wrong.statusCode).toBe(404);

    const applied = await post(`/products/media/${enc(media.id)}/apply`, { image_id: imageId, mode: 'add' });
    expect(applied.statusCode).toBe(200);
    const added = (applied.json() as { media: Media }).media;
    expect(added.id).not.toBe(media.id);
    expect(added.state).toBe('applied');
    const listed = (await products('?query=sneaker')).products[0]!;
    expect(listed.media.map((m) => m.id)).toEqual([media.id, added.id]);
    // A second apply of the same result adds nothing.
    await post(`/products/media/${enc(media.id)}/apply`, { image_id: imageId, mode: 'add' });
    expect((await products('?query=sneaker')).products[0]!.media).toHaveLength(2);

    const restored = await post(`/products/media/${enc(media.id)}/restore`, {});
    expect(restored.statusCode).toBe(200);
    expect((await products('?query=sneaker')).products[0]!.media.map((m) => m.id)).toEqual([media.id]);
  });

  it('refuses a request the balance does not cover, whole, with nothing queued', async () => {
    const all = (await products('?limit=50')).products.flatMap((p) => p.media).filter((m) => m.state !== 'queued' && m.state !== 'processing');
    const balance = await credits();
    expect(all.length).toBeGreaterThan(0);
    // Spend down to fewer credits than media.
    await queryRows(t.container.db, sql`update shop_credits set balance = ${Math.max(0, all.length - 1)} where shop = ${shop}`);
    await queryRows(
      t.container.db,
      sql`insert into credit_transactions (shop, delta, reason, reference, balance_after) values (${shop}, ${Math.max(0, all.length - 1) - balance}, 'adjustment', 'test', ${Math.max(0, all.length - 1)})`,
    );
    const [{ n: imagesBefore }] = (await queryRows<{ n: number }>(t.container.db, sql`select count(*)::int as n from images where shop = ${shop}`)) as [{ n: number }];
    const res = await post('/products/media/process', { media_ids: all.map((m) => m.id), operation: 'upscale', apply: 'none' });
    expect(res.statusCode).toBe(402);
    expect(res.json()).toMatchObject({ code: 'INSUFFICIENT_CREDITS', error: { remaining_credits: all.length - 1 } });
    const [{ n: imagesAfter }] = (await queryRows<{ n: number }>(t.container.db, sql`select count(*)::int as n from images where shop = ${shop}`)) as [{ n: number }];
    expect(imagesAfter).toBe(imagesBefore);
    expect(await credits()).toBe(all.length - 1);
  });

  it('runs a batch over a chosen demo product to the end', async () => {
    await queryRows(t.container.db, sql`update shop_credits set balance = balance + 20 where shop = ${shop}`);
    await queryRows(t.container.db, sql`insert into credit_transactions (shop, delta, reason, reference, balance_after) values (${shop}, 20, 'adjustment', 'batch', (select balance from shop_credits where shop = ${shop}))`);
    const product = (await products('?query=tote')).products[0]!;
    const res = await post('/batches', { scope: { product_ids: [product.id] }, operation: 'downscale', apply: 'none' });
    expect(res.statusCode).toBe(202);
    const id = (res.json() as { batch: { id: string } }).batch.id;
    const done = await waitFor(async () => {
      const b = (await get(`/batches/${id}`)).json() as { batch: { status: string; counts: Record<string, number> } };
      return b.batch.status === 'done' ? b.batch : undefined;
    }, 30_000, 'the batch');
    expect(done.counts).toMatchObject({ total: product.media.length, processed: product.media.length, failed: 0 });
  });

  it("answers 404 for another shop's media, and 400 for a malformed id", async () => {
    const media = (await products()).products[0]!.media[0]!;
    expect((await get(`/products/media/${enc(media.id)}/history`, other)).statusCode).toBe(404);
    const res = await post('/products/media/process', { media_ids: [media.id], operation: 'upscale', apply: 'none' }, other);
    expect(res.statusCode).toBe(404);
    expect((await post(`/products/media/${enc(media.id)}/restore`, {}, other)).statusCode).toBe(409);
    expect((await get(`/products/media/${enc('gid://shopify/Product/1')}/history`)).statusCode).toBe(400);
  });
});

describe('kept originals in local mode', () => {
  let t: TestApp;
  let cookie: string;
  const shop = 'retention.myshopify.com';

  beforeAll(async () => {
    t = await createTestApp({ jobs: true, env: { FREE_CREDITS: '10', ORIGINALS_RETENTION_DAYS: '30' } });
    ({ cookie } = await devLogin(t.app, shop));
  });
  afterAll(() => t.close());

  it('keeps the original for a restore, removes it ORIGINALS_RETENTION_DAYS after the apply; then a restore is refused', async () => {
    const list = (await t.app.inject({ url: '/products?query=bottle', headers: { cookie } })).json() as { products: Product[] };
    const media = list.products[0]!.media[0]!;
    const res = await t.app.inject({ method: 'POST', url: '/products/media/process', headers: { cookie }, payload: { media_ids: [media.id], operation: 'downscale', apply: 'replace' } });
    const imageId = (res.json() as { images: Array<{ id: string }> }).images[0]!.id;
    await waitFor(async () => (await queryRows<{ n: number }>(t.container.db, sql`select count(*)::int as n from media_runs where image_id = ${imageId} and applied_at is not null`))[0]!.n === 1, 30_000, 'the apply');
    const [{ original_path }] = (await queryRows<{ original_path: string }>(t.container.db, sql`select original_path from images where id = ${imageId}`)) as [{ original_path: string }];
    expect(await t.container.storage.exists(original_path)).toBe(true);

    await t.container.runMaintenance();
    expect(await t.container.storage.exists(original_path)).toBe(true); // inside the window

    await queryRows(t.container.db, sql`update media_runs set applied_at = now() - interval '31 days' where image_id = ${imageId}`);
    await t.container.runMaintenance();
    expect(await t.container.storage.exists(original_path)).toBe(false);
    const restore = await t.app.inject({ method: 'POST', url: `/products/media/${enc(media.id)}/restore`, headers: { cookie }, payload: {} });
    expect(restore.statusCode).toBe(409);
    expect(restore.json()).toMatchObject({ code: 'ORIGINAL_EXPIRED' });
  });
});
