import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { queryRows } from '../../src/adapters/db/client.js';
import { balanceOf } from '../../src/modules/ledger/ledger.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { multipart, uploadForm } from '../helpers/images.js';
import { progressiveJpeg, scanBombJpeg } from '../helpers/jpeg-bomb.js';

/**
 * Inputs cheap to send and costly to decode are refused at the request from
 * their header and a byte scan, before any credit is taken and without
 * decoding them; normal images (progressive JPEGs included) are accepted.
 */
describe('decoder bombs at the request', () => {
  let t: TestApp;
  let cookie: string;
  let other: string;
  const shop = 'bombs.myshopify.com';

  beforeAll(async () => {
    t = await createTestApp();
    ({ cookie } = await devLogin(t.app, shop));
    ({ cookie: other } = await devLogin(t.app, 'bystander.myshopify.com'));
  });
  afterAll(() => t.close());

  const imageCount = async () =>
    (await queryRows<{ n: number }>(t.container.db, sql`select count(*)::int as n from images where shop = ${shop}`))[0]!.n;

  it('an upload of a JPEG with thousands of scans is a fast 413 IMAGE_TOO_COMPLEX, with no debit and no image', async () => {
    const bomb = await scanBombJpeg();
    const before = await balanceOf(t.container.db, shop);
    const started = performance.now();
    const res = await t.app.inject({ method: 'POST', url: '/upload', ...withCookie(uploadForm(bomb, 'upscale', 'bomb.jpg'), cookie) });
    expect(performance.now() - started).toBeLessThan(1500);
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'IMAGE_TOO_COMPLEX', error: expect.stringMatching(/scans/) });
    expect(await balanceOf(t.container.db, shop)).toBe(before);
    expect(await imageCount()).toBe(0);
  });

  it('the avatar route refuses it the same way and keeps no avatar', async () => {
    const bomb = await scanBombJpeg(2000, 2000);
    const form = multipart([{ name: 'file', data: bomb, filename: 'me.jpg', contentType: 'image/jpeg' }]);
    const res = await t.app.inject({ method: 'POST', url: '/settings/avatar', ...withCookie(form, cookie) });
    expect(res.statusCode).toBe(413);
    expect((res.json() as { code: string }).code).toBe('IMAGE_TOO_COMPLEX');
    expect((await t.app.inject({ url: '/settings/avatar/refresh', headers: { cookie } })).statusCode).toBe(404);
  });

  it("four bombs at once do not hold up another shop's small avatar", async () => {
    const bombs = await Promise.all([1, 2, 3, 4].map(() => scanBombJpeg()));
    const avatar = multipart([{ name: 'file', data: await progressiveJpeg(400, 300), filename: 'me.jpg', contentType: 'image/jpeg' }]);
    const started = performance.now();
    const [ok, ...refused] = await Promise.all([
      t.app.inject({ method: 'POST', url: '/settings/avatar', ...withCookie(avatar, other) }),
      ...bombs.map((b) => t.app.inject({ method: 'POST', url: '/upload', ...withCookie(uploadForm(b, 'upscale', 'b.jpg'), cookie) })),
    ]);
    expect(ok!.statusCode).toBe(200);
    for (const r of refused) expect(r.statusCode).toBe(413);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('a normal progressive JPEG is accepted and debited once', async () => {
    const before = await balanceOf(t.container.db, shop);
    const res = await t.app.inject({
      method: 'POST',
      url: '/upload',
      ...withCookie(uploadForm(await progressiveJpeg(), 'upscale', 'progressive.jpg'), cookie),
    });
    expect(res.statusCode).toBe(202);
    expect(await balanceOf(t.container.db, shop)).toBe(before - 1);
  });
});

function withCookie(form: { payload: Buffer; headers: Record<string, string> }, cookie: string) {
  return { payload: form.payload, headers: { ...form.headers, cookie } };
}
