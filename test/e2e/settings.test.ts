import { buffer } from 'node:stream/consumers';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS } from '../helpers/db.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { multipart, productShot, uploadForm } from '../helpers/images.js';

describe.each(DB_KINDS)('settings and avatar on %s', (db) => {
  let t: TestApp;
  let cookie: string;
  const shop = 'prefs.myshopify.com';
  beforeAll(async () => {
    t = await createTestApp({ db });
    ({ cookie } = await devLogin(t.app, shop));
  });
  afterAll(() => t.close());

  const get = async () => (await t.app.inject({ url: '/settings', headers: { cookie } })).json() as Record<string, unknown>;
  const post = (payload: unknown) =>
    t.app.inject({
      method: 'POST',
      url: '/settings',
      headers: { cookie, 'content-type': 'application/json' },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
  const storedAvatar = async () => buffer((await t.container.storage.get(`avatars/${shop}/avatar.webp`)).body);
  const avatar = (file: Buffer, filename = 'me.png', contentType = 'image/png') => {
    const form = multipart([{ name: 'file', data: file, filename, contentType }]);
    return t.app.inject({ method: 'POST', url: '/settings/avatar', payload: form.payload, headers: { ...form.headers, cookie } });
  };

  it('answers defaults when nothing is saved', async () => {
    expect(await get()).toEqual({
      shop,
      background_removal: false,
      optimize_images: false,
      avatar_path: null,
      updated_at: null,
      auto_process: { enabled: false, operation: 'remove-bg', options: {}, apply: 'none', daily_cap: 100, paused_reason: null, paused_at: null },
      finishing: { background: 'transparent', framing: 'none', padding: 8, shadow: 'none', format: 'png' },
    });
  });

  it('saves auto_process, validated, and keeps the other settings', async () => {
    const bad = await post({ auto_process: { daily_cap: -1 } });
    expect(bad.statusCode).toBe(400);
    const res = await post({ auto_process: { enabled: true, operation: 'upscale', apply: 'replace' } });
    expect(res.statusCode).toBe(200);
    expect((await get()).auto_process).toMatchObject({ enabled: true, operation: 'upscale', apply: 'replace', daily_cap: 100 });
    await post({ auto_process: { enabled: false } });
    expect((await get()).auto_process).toMatchObject({ enabled: false, operation: 'upscale' });
    // What GET answered, sent back as it is (the dashboard does): the read-only pause fields are ignored.
    expect((await post({ auto_process: (await get()).auto_process })).statusCode).toBe(200);
  });

  it('saves settings; a partial update keeps the other field', async () => {
    const first = await post({ background_removal: true, optimize_images: true });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ success: true, data: { shop, background_removal: true, optimize_images: true } });
    const second = await post({ optimize_images: false });
    expect((second.json() as { data: unknown }).data).toMatchObject({ background_removal: true, optimize_images: false });
    const saved = await get();
    expect(saved).toMatchObject({ background_removal: true, optimize_images: false });
    expect(typeof saved.updated_at).toBe('string');
  });

  it.each([
    [{ background_removal: 'true' }],
    [{ background_removal: 1 }],
    [{ optimize_images: null }],
    [{ optimize_images: 'yes' }],
    [{ background_removal: true, theme: 'dark' }],
    [[true]],
    ['{"background_removal": tru'],
  ])('refuses %j and keeps the saved settings', async (body) => {
    const before = await get();
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(['VALIDATION_FAILED', 'INVALID_JSON']).toContain((res.json() as { code: string }).code);
    expect(await get()).toEqual(before);
  });

  it('stores the avatar as WebP within 512x512, replacing the previous one, and refreshes its URL', async () => {
    expect((await t.app.inject({ url: '/settings/avatar/refresh', headers: { cookie } })).statusCode).toBe(404);
    const big = await sharp({ create: { width: 1200, height: 800, channels: 3, background: '#3366cc' } }).jpeg().toBuffer();
    const res = await avatar(big, 'me.jpg', 'image/jpeg');
    expect(res.statusCode).toBe(200);
    expect((res.json() as { url: string }).url).toMatch(/\/files\/avatars\/prefs\.myshopify\.com\/avatar\.webp\?exp=\d+&sig=/);
    const meta = await sharp(await storedAvatar()).metadata();
    expect(meta).toMatchObject({ format: 'webp', width: 512, height: 341 });

    const second = await avatar(await productShot(100, 100, 'png'));
    expect(second.statusCode).toBe(200);
    expect((await sharp(await storedAvatar()).metadata()).width).toBe(100);

    const settings = await get();
    expect(settings.avatar_path).toMatch(/avatar\.webp\?exp=/);
    const refresh = await t.app.inject({ url: '/settings/avatar/refresh', headers: { cookie } });
    expect(refresh.statusCode).toBe(200);
    expect((refresh.json() as { url: string }).url).toMatch(/avatar\.webp\?exp=/);
  });

  it.each([
    ['text', async () => Buffer.from('not an image'), 415],
    [
      'an SVG with a script',
      async () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><rect width="9" height="9"/></svg>'),
      415,
    ],
    ['a GIF (not allowed for avatars)', async () => sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).gif().toBuffer(), 415],
    ['a bomb', async () => sharp({ create: { width: 10_000, height: 6_000, channels: 3, background: '#fff' } }).png().toBuffer(), 413],
    ['over 2 MB', async () => Buffer.alloc(2 * 1024 * 1024 + 10, 1), 413],
  ])('refuses %s and keeps the avatar', async (_name, make, status) => {
    await avatar(await productShot(64, 64, 'png'));
    const before = await storedAvatar();
    const res = await avatar(await make());
    expect(res.statusCode).toBe(status);
    expect(await storedAvatar()).toEqual(before);
    expect((await get()).avatar_path).toMatch(/avatar\.webp/);
  });

  it('an upload that names no operation follows the settings', async () => {
    await post({ background_removal: false, optimize_images: false });
    const none = async () => {
      const f = multipart([{ name: 'file', data: await productShot(), filename: 'a.jpg' }]);
      return t.app.inject({ method: 'POST', url: '/upload', payload: f.payload, headers: { ...f.headers, cookie } });
    };
    expect((await none()).statusCode).toBe(400);
    await post({ optimize_images: true });
    const down = await none();
    expect(down.statusCode).toBe(202);
    const id = (down.json() as { id: string }).id;
    expect(((await t.app.inject({ url: `/images/${id}`, headers: { cookie } })).json() as { operation: string }).operation).toBe('downscale');
    await post({ background_removal: true });
    const bg = await none();
    const bgId = (bg.json() as { id: string }).id;
    expect(((await t.app.inject({ url: `/images/${bgId}`, headers: { cookie } })).json() as { operation: string }).operation).toBe('remove-bg');
    // A named operation always wins.
    const named = await t.app.inject({ method: 'POST', url: '/upload', ...withCookie(uploadForm(await productShot(), 'upscale'), cookie) });
    expect(named.statusCode).toBe(202);
  });
});

function withCookie(form: { payload: Buffer; headers: Record<string, string> }, cookie: string) {
  return { payload: form.payload, headers: { ...form.headers, cookie } };
}
