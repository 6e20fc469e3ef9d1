import { queryRows } from '../../src/adapters/db/client.js';
import { buffer } from 'node:stream/consumers';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS } from '../helpers/db.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { multipart, productShot, uploadForm } from '../helpers/images.js';
import { progressiveJpeg } from '../helpers/jpeg-bomb.js';
import { waitFor } from '../helpers/process.js';

interface ImageJson {
  id: string;
  status: string;
  operation: string;
  filename: string;
  original_path: string;
  processed_path: string | null;
  error_message: string | null;
}

/** The 60 MP PNG, encoded once for both databases (its encoding is the slow part of the case). */
let bombPng: Promise<Buffer> | undefined;

async function filesUnder(root: string): Promise<string[]> {
  const found = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return found.filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name));
}

describe.each(DB_KINDS)('the image pipeline in embedded mode on %s', (db) => {
  let t: TestApp;
  let cookie: string;
  const shop = 'pics.myshopify.com';

  beforeAll(async () => {
    t = await createTestApp({ db, jobs: true, env: { MAX_UPLOAD_MB: '1', FREE_CREDITS: '10' } });
    ({ cookie } = await devLogin(t.app, shop));
  });
  afterAll(() => t.close());

  const upload = (form: { payload: Buffer; headers: Record<string, string> }, headers: Record<string, string> = {}, c = cookie) =>
    t.app.inject({ method: 'POST', url: '/upload', payload: form.payload, headers: { ...form.headers, cookie: c, ...headers } });
  const credits = async (c = cookie) =>
    ((await t.app.inject({ url: '/credits/me', headers: { cookie: c } })).json() as { credits: number }).credits;
  const getImage = async (id: string) =>
    (await t.app.inject({ url: `/images/${id}`, headers: { cookie } })).json() as ImageJson;
  const finished = (id: string) =>
    waitFor(async () => {
      const image = await getImage(id);
      return image.status === 'processed' || image.status === 'failed' ? image : undefined;
    }, 20_000, `image ${id} to finish`);
  const stored = async (key: string) => buffer((await t.container.storage.get(key)).body);

  it('upscales a JPEG 2x into a PNG, debiting one credit', async () => {
    const before = await credits();
    const res = await upload(uploadForm(await productShot(40, 30), 'upscale', 'shoe.jpg'));
    expect(res.statusCode).toBe(202);
    const body = res.json() as Record<string, unknown>;
    expect(body).toMatchObject({ filename: 'shoe.jpg', status: 'queued', remaining_credits: before - 1 });
    expect(body.job_id).toBe(body.id);
    expect(body.celery_job_id).toBe(body.id);

    const image = await finished(String(body.id));
    expect(image).toMatchObject({ status: 'processed', operation: 'upscale', error_message: null });
    expect(image.original_path).toBe(`${shop}/upload/${body.id}.jpg`);
    expect(image.processed_path).toBe(`${shop}/processed/${body.id}.png`);
    const meta = await sharp(await stored(image.processed_path!)).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 80, height: 60 });
    expect(await credits()).toBe(before - 1);
  });

  it('downscales into a PNG no larger than the input', async () => {
    const res = await upload(uploadForm(await productShot(64, 48, 'png'), 'downscale', 'a.png', 'image/png'));
    expect(res.statusCode).toBe(202);
    const image = await finished((res.json() as { id: string }).id);
    expect(image.status).toBe('processed');
    const out = await stored(image.processed_path!);
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width!).toBeLessThanOrEqual(64);
    expect(meta.height!).toBeLessThanOrEqual(48);
    expect(out.length).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it('removes the background: a PNG with a transparent background and an opaque object', async () => {
    const res = await upload(uploadForm(await productShot(120, 90), 'remove-bg'));
    expect(res.statusCode).toBe(202);
    const image = await finished((res.json() as { id: string }).id);
    expect(image.status).toBe('processed');
    const out = await stored(image.processed_path!);
    const meta = await sharp(out).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 120, height: 90, hasAlpha: true });
    const { data, info } = await sharp(out).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const alphaAt = (x: number, y: number) => data[(y * info.width + x) * 4 + 3];
    expect(alphaAt(2, 2)).toBe(0); // background corner
    expect(alphaAt(60, 45)).toBe(255); // the object
  });

  it('accepts the legacy operation aliases', async () => {
    for (const op of ['remove-background', 'remove_bg', 'remove-bg']) {
      const res = await upload(uploadForm(await productShot(), op));
      expect(res.statusCode).toBe(202);
      expect((await getImage((res.json() as { id: string }).id)).operation).toBe('remove-bg');
    }
  });

  describe('refuses bad uploads and loses nothing', () => {
    // Earlier uploads finish (and refund) in the background: let them settle before counting.
    beforeAll(() =>
      waitFor(async () => {
        const [r] = await queryRows<{ n: number }>(
          t.container.db,
          sql`select count(*)::int as n from images where status in ('queued', 'processing')`,
        );
        return r!.n === 0;
      }, 20_000, 'the queue to drain'),
    );
    const bomb = () =>
      (bombPng ??= sharp({ create: { width: 10_000, height: 6_000, channels: 3, background: '#fff' } })
        .png({ compressionLevel: 9 })
        .toBuffer());
    const cases: Array<[string, () => Promise<{ payload: Buffer; headers: Record<string, string> }>, number, string]> = [
      ['a zero-byte file', async () => uploadForm(Buffer.alloc(0), 'upscale', 'empty.png'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [
        'a truncated PNG',
        async () => {
          const png = await productShot(64, 64, 'png');
          return uploadForm(png.subarray(0, Math.floor(png.length / 2)), 'upscale', 'cut.png');
        },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      // Cut where sharp still reads the header (and would have accepted them): the GIF's trailer, the TIFF's last tag values, the AVIF's pixels.
      ...(
        [
          ['gif', (n: number) => n - 1],
          ['tiff', (n: number) => n - 10],
          ['avif', (n: number) => Math.floor(n * 0.8)],
        ] as const
      ).map(([format, cut]): (typeof cases)[number] => [
        `a truncated ${format.toUpperCase()}`,
        async () => {
          const image = await sharp(await progressiveJpeg(320, 240)).toFormat(format).toBuffer();
          return uploadForm(image.subarray(0, cut(image.length)), 'upscale', `cut.${format}`, `image/${format}`);
        },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ]),
      ['text named .png', async () => uploadForm(Buffer.from('hello, not an image'), 'upscale', 'x.png', 'image/png'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [
        'HTML named .png',
        async () => uploadForm(Buffer.from('<html><script>alert(1)</script></html>'), 'upscale', 'x.png', 'image/png'),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'an SVG',
        async () =>
          uploadForm(
            Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'),
            'upscale',
            'x.svg',
            'image/svg+xml',
          ),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['a decompression bomb (60 MP)', async () => uploadForm(await bomb(), 'upscale', 'bomb.png', 'image/png'), 413, 'PAYLOAD_TOO_LARGE'],
      ['a missing operation', async () => multipart([{ name: 'file', data: await productShot(), filename: 'a.jpg' }]), 400, 'INVALID_OPERATION'],
      ['an unknown operation', async () => uploadForm(await productShot(), 'sharpen'), 400, 'INVALID_OPERATION'],
      ['a missing file', async () => multipart([{ name: 'operation', data: 'upscale' }]), 400, 'INVALID_UPLOAD'],
      [
        'two file parts',
        async () =>
          multipart([
            { name: 'operation', data: 'upscale' },
            { name: 'file', data: await productShot(), filename: 'a.jpg' },
            { name: 'file', data: await productShot(), filename: 'b.jpg' },
          ]),
        400,
        'INVALID_UPLOAD',
      ],
      [
        'a file in another part name',
        async () =>
          multipart([
            { name: 'operation', data: 'upscale' },
            { name: 'image', data: await productShot(), filename: 'a.jpg' },
          ]),
        400,
        'INVALID_UPLOAD',
      ],
      [
        'a body that is not multipart',
        async () => ({ payload: Buffer.from('{"operation":"upscale"}'), headers: { 'content-type': 'application/json' } }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'a truncated multipart body',
        async () => {
          const form = uploadForm(await productShot(), 'upscale');
          return { ...form, payload: form.payload.subarray(0, form.payload.length - 30) };
        },
        400,
        'INVALID_MULTIPART',
      ],
    ];

    it.each(cases)('%s', async (_name, makeForm, status, code) => {
      const before = await credits();
      const count = () => queryRows(t.container.db, sql`select count(*)::int as n from images`);
      const rows = await count();
      const files = await filesUnder(t.config.dataDir);
      const res = await upload(await makeForm());
      expect(res.statusCode).toBe(status);
      expect((res.json() as { code: string }).code).toBe(code);
      expect(await credits()).toBe(before);
      expect(await count()).toEqual(rows);
      expect(await filesUnder(t.config.dataDir)).toEqual(files);
    });
  });

  it('answers 413 for a body over MAX_UPLOAD_MB before reading it', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 1);
    const res = await upload(uploadForm(big, 'upscale'));
    expect(res.statusCode).toBe(413);
    expect((res.json() as { code: string }).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers 413 when a streamed file passes the limit (no Content-Length)', async () => {
    const form = uploadForm(Buffer.alloc(1.5 * 1024 * 1024, 7), 'upscale');
    const res = await t.app.inject({
      method: 'POST',
      url: '/upload',
      payload: form.payload,
      headers: { ...form.headers, cookie, 'transfer-encoding': 'chunked' },
    });
    expect(res.statusCode).toBe(413);
  });

  it('out of credits: 402 with the compat shape, and nothing left behind', async () => {
    const { cookie: poor } = await devLogin(t.app, 'poor.myshopify.com');
    await t.container.db.execute(sql`update shop_credits set balance = 0 where shop = 'poor.myshopify.com'`);
    const files = await filesUnder(t.config.dataDir);
    const res = await upload(uploadForm(await productShot(), 'upscale'), {}, poor);
    expect(res.statusCode).toBe(402);
    expect(res.json()).toEqual({
      error: { message: 'Not enough credits. Please purchase more.', remaining_credits: 0 },
      code: 'INSUFFICIENT_CREDITS',
    });
    const rows = await queryRows(t.container.db, sql`select count(*)::int as n from images where shop = 'poor.myshopify.com'`);
    expect(rows).toEqual([{ n: 0 }]);
    expect(await filesUnder(t.config.dataDir)).toEqual(files);
  });

  it('the same Idempotency-Key returns the first answer and debits once, even when raced', async () => {
    const before = await credits();
    const form = uploadForm(await productShot(), 'downscale');
    const answers = await Promise.all(Array.from({ length: 8 }, () => upload(form, { 'idempotency-key': 'k-123' })));
    for (const a of answers) expect(a.statusCode).toBe(202);
    const ids = new Set(answers.map((a) => (a.json() as { id: string }).id));
    expect(ids.size).toBe(1);
    const again = await upload(form, { 'idempotency-key': 'k-123' });
    expect((again.json() as { id: string }).id).toBe([...ids][0]);
    expect(await credits()).toBe(before - 1);
    const uploads = (await filesUnder(t.config.dataDir)).filter((f) => f.includes(`${shop}/upload/`));
    const [rows] = await queryRows<{ n: number }>(t.container.db, sql`select count(*)::int as n from images where shop = ${shop}`);
    expect(uploads.length).toBe(rows!.n);
  });

  it('refuses a malformed Idempotency-Key', async () => {
    const res = await upload(uploadForm(await productShot(), 'upscale'), { 'idempotency-key': 'spaces are not ok' });
    expect(res.statusCode).toBe(400);
  });

  it("answers 404 for another shop's image and 400 for a malformed id", async () => {
    const res = await upload(uploadForm(await productShot(), 'upscale'));
    const id = (res.json() as { id: string }).id;
    const { cookie: other } = await devLogin(t.app, 'nosy.myshopify.com');
    const theirs = await t.app.inject({ url: `/images/${id}`, headers: { cookie: other } });
    const none = await t.app.inject({ url: '/images/7d4f8a4e-1111-4111-8111-111111111111', headers: { cookie: other } });
    expect(theirs.statusCode).toBe(404);
    expect(theirs.body).toBe(none.body);
    const bad = await t.app.inject({ url: '/images/not-a-uuid', headers: { cookie } });
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as { code: string }).code).toBe('VALIDATION_FAILED');
  });

  it('lists images newest first with a cursor and a status filter', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : '';
      const page = (await t.app.inject({ url: `/images?limit=2${q}`, headers: { cookie } })).json() as {
        images: ImageJson[];
        next_cursor: string | null;
      };
      seen.push(...page.images.map((i) => i.id));
      cursor = page.next_cursor;
    } while (cursor);
    const rows = await queryRows<{ id: string }>(
      t.container.db,
      sql`select id from images where shop = ${shop} order by created_at desc, id desc`,
    );
    expect(seen).toEqual(rows.map((r) => r.id));

    const processed = (await t.app.inject({ url: '/images?status=processed', headers: { cookie } })).json() as { images: ImageJson[] };
    expect(processed.images.length).toBeGreaterThan(0);
    expect(processed.images.every((i) => i.status === 'processed')).toBe(true);
    expect((await t.app.inject({ url: '/images?status=done', headers: { cookie } })).statusCode).toBe(400);
  });

  it('adds signed URLs of the original and the result only when include_urls is asked', async () => {
    const plain = (await t.app.inject({ url: '/images?status=processed&limit=3', headers: { cookie } })).json() as {
      images: Array<Record<string, unknown>>;
    };
    expect(plain.images[0]).not.toHaveProperty('original_url');
    const res = await t.app.inject({ url: '/images?status=processed&limit=3&include_urls=true', headers: { cookie } });
    const images = (res.json() as { images: Array<ImageJson & { original_url: string; processed_url: string }> }).images;
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) {
      for (const [url, key] of [
        [image.original_url, image.original_path],
        [image.processed_url, image.processed_path!],
      ] as const) {
        const signed = new URL(url);
        expect(decodeURIComponent(signed.pathname)).toBe(`/files/${key}`);
        const file = await t.app.inject({ url: signed.pathname + signed.search });
        expect(file.statusCode).toBe(200);
        expect(file.rawPayload.equals(await stored(key))).toBe(true);
      }
    }
  });

  it('dashboard stats count by status and list recent processed images with signed URLs', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/image/dashboard-stats', headers: { cookie } });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { stats: Record<string, number>; recent: Array<{ id: string; url: string; status: string }> };
    const counts = await queryRows<{ status: string; n: number }>(
      t.container.db,
      sql`select status, count(*)::int as n from images where shop = ${shop} group by status`,
    );
    const by = Object.fromEntries(counts.map((r) => [r.status, r.n]));
    expect(body.stats.total).toBe(counts.reduce((a, r) => a + r.n, 0));
    expect(body.stats.completed).toBe(by.processed ?? 0);
    expect(body.stats.failed).toBe(by.failed ?? 0);
    expect(body.recent.length).toBeGreaterThan(0);
    expect(body.recent.length).toBeLessThanOrEqual(5);
    for (const r of body.recent) {
      expect(r.status).toBe('Complete');
      expect(r.url).toMatch(/\/files\/.+\?exp=\d+&sig=/);
    }
    const withBody = await t.app.inject({ method: 'POST', url: '/image/dashboard-stats', headers: { cookie }, payload: { shop } });
    expect(withBody.statusCode).toBe(200);
    const extra = await t.app.inject({ method: 'POST', url: '/image/dashboard-stats', headers: { cookie }, payload: { nope: 1 } });
    expect(extra.statusCode).toBe(400);
  });
});

describe('200 concurrent uploads against a balance of 50', () => {
  it.each(DB_KINDS)('on %s: exactly 50 are accepted, 150 get 402, the ledger sums to 0', async (db) => {
    const t = await createTestApp({ db, env: { FREE_CREDITS: '50' } });
    try {
      const { cookie } = await devLogin(t.app, 'rush.myshopify.com');
      const form = uploadForm(await productShot(16, 16), 'upscale');
      const answers = await Promise.all(
        Array.from({ length: 200 }, () =>
          t.app.inject({ method: 'POST', url: '/upload', payload: form.payload, headers: { ...form.headers, cookie } }),
        ),
      );
      const codes = answers.map((a) => a.statusCode);
      expect(codes.filter((c) => c === 202)).toHaveLength(50);
      expect(codes.filter((c) => c === 402)).toHaveLength(150);
      const r = (await t.container.db.execute(sql`
        select (select balance from shop_credits where shop = 'rush.myshopify.com') as balance,
               (select coalesce(sum(delta), 0)::int from credit_transactions where shop = 'rush.myshopify.com') as total,
               (select count(*)::int from images where shop = 'rush.myshopify.com') as images`)) as unknown as {
        rows: Array<{ balance: number; total: number; images: number }>;
      };
      expect(r.rows[0]).toEqual({ balance: 0, total: 0, images: 50 });
      const uploads = (await filesUnder(t.config.dataDir)).filter((f) => f.includes('rush.myshopify.com/upload/'));
      expect(uploads).toHaveLength(50);
    } finally {
      await t.close();
    }
  });
});
