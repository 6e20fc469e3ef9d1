import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveKey } from '../../src/container.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { fetchOnce } from '../helpers/net.js';
import { startLocalS3, type LocalS3 } from '../fakes/s3rver.js';
import { startFakeSupabaseStorage, type FakeSupabaseStorage } from '../fakes/supabase-storage.js';

const SHOP = 'demo.myshopify.com';
const OTHER = 'other.myshopify.com';
const WEEK_S = 7 * 24 * 3600;
const NOT_FOUND = { error: 'Not found', code: 'NOT_FOUND' };

async function png(width: number, height: number, color: { r: number; g: number; b: number }): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { ...color, alpha: 1 } } })
    .png()
    .toBuffer();
}

interface Files {
  mine: Buffer;
  avatar: Buffer;
  theirs: Buffer;
  outside: Buffer;
}

/** Puts real PNGs into the app's storage: one of ours, our avatar, one of another shop. */
async function seed(t: TestApp): Promise<Files> {
  const files = {
    mine: await png(12, 10, { r: 200, g: 10, b: 10 }),
    avatar: await png(6, 6, { r: 10, g: 200, b: 10 }),
    theirs: await png(9, 9, { r: 10, g: 10, b: 200 }),
    outside: await png(3, 3, { r: 1, g: 2, b: 3 }),
  };
  await t.container.storage.put(`${SHOP}/upload/a.png`, files.mine, 'image/png');
  await t.container.storage.put(`avatars/${SHOP}/logo.png`, files.avatar, 'image/png');
  await t.container.storage.put(`${OTHER}/upload/secret.png`, files.theirs, 'image/png');
  await t.container.storage.put(`avatars/${OTHER}/logo.png`, files.theirs, 'image/png');
  // A shop whose domain starts like ours: its files exist, so a loose prefix check would leak them.
  await t.container.storage.put(`${SHOP}x/upload/a.png`, files.theirs, 'image/png');
  // A literal `%41` in a name: decoding once finds it, decoding twice would look for `A.png`.
  await t.container.storage.put(`${SHOP}/upload/%41.png`, files.mine, 'image/png');
  return files;
}

/**
 * Hostile paths, as written in the URL (not yet decoded). Every one must be
 * the same 404 as a missing file.
 */
const HOSTILE_PATHS: Array<[string, string]> = [
  ['dot-dot into another shop', `${SHOP}/../${OTHER}/upload/secret.png`],
  ['dot-dot out of the storage root', `${SHOP}/../../outside.png`],
  ['dot-dot at the start', `../files/${OTHER}/upload/secret.png`],
  ['%2e%2e', `${SHOP}/%2e%2e/${OTHER}/upload/secret.png`],
  ['%2E%2E upper case', `${SHOP}/%2E%2E/${OTHER}/upload/secret.png`],
  ['.%2e mixed', `${SHOP}/.%2e/${OTHER}/upload/secret.png`],
  ['%2e%2e out of the root', `${SHOP}/%2e%2e/%2e%2e/outside.png`],
  ['encoded slashes', `${SHOP}%2f..%2f${OTHER}%2fupload%2fsecret.png`],
  ['double-encoded %252e%252e (decoded once only)', `${SHOP}/%252e%252e/${OTHER}/upload/secret.png`],
  ['double-encoded slash %252f', `${SHOP}%252f..%252f${OTHER}%252fupload%252fsecret.png`],
  ['backslashes', `${SHOP}\\..\\${OTHER}\\upload\\secret.png`],
  ['%5c', `${SHOP}%5c..%5c${OTHER}%5cupload%5csecret.png`],
  ['%5C within a segment', `${SHOP}/upload%5Ca.png`],
  ['absolute path', '/etc/passwd'],
  ['absolute, encoded', '%2fetc%2fpasswd'],
  ['absolute path of our own file', `/${SHOP}/upload/a.png`],
  ['NUL %00 after the name', `${SHOP}/upload/a.png%00`],
  ['NUL %00 before an extension', `${SHOP}/upload/a.png%00.txt`],
  ['control character %0a', `${SHOP}/upload/a.png%0a`],
  ['dot segment', `${SHOP}/./upload/a.png`],
  ['empty segment', `${SHOP}//upload/a.png`],
  ["another shop's file", `${OTHER}/upload/secret.png`],
  ["another shop's avatars", `avatars/${OTHER}/logo.png`],
  ['a prefix that only starts like ours', `${SHOP}x/upload/a.png`],
  ['missing file', `${SHOP}/upload/missing.png`],
  ['empty path', ''],
];

/** The same signature with its first character changed. */
const flip = (sig: string) => `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;

/** Safe keys of files that exist outside our shop: /files serves them for a valid signature of that exact key. */
const SAFE_EXISTING_ELSEWHERE = new Set(["another shop's file", "another shop's avatars", 'a prefix that only starts like ours']);

function expectNotFound(res: { statusCode: number; json(): unknown; body: string }, label: string) {
  expect(res.statusCode, label).toBe(404);
  expect(res.json(), label).toEqual(NOT_FOUND);
}

type Raw = (pathAndQuery: string, headers?: Record<string, string>) => Promise<{
  statusCode: number;
  body: string;
  json(): unknown;
}>;

/**
 * Runs the app on a real port and sends request lines exactly as given.
 * app.inject parses URLs with WHATWG URL, which resolves `..`, `.`, `%2e%2e`
 * and turns `\` into `/` before the app sees them: path rules are tested here.
 */
async function rawClient(t: TestApp): Promise<Raw> {
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return (pathAndQuery, headers = {}) =>
    new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: address.port, method: 'GET', path: pathAndQuery, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('latin1');
            resolve({ statusCode: res.statusCode ?? 0, body, json: () => JSON.parse(body) as unknown });
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
}

describe('file endpoints on local storage', () => {
  let t: TestApp;
  let files: Files;
  let cookie: string;
  let raw: Raw;
  beforeAll(async () => {
    t = await createTestApp();
    files = await seed(t);
    // A real file just outside the storage root (DATA_DIR/files): traversal must never reach it.
    writeFileSync(path.join(t.config.dataDir, 'outside.png'), files.outside);
    ({ cookie } = await devLogin(t.app, SHOP));
    await devLogin(t.app, OTHER);
    raw = await rawClient(t);
  });
  afterAll(() => t?.close());

  const auth = () => ({ cookie });

  /** Follows a local signed URL through the app (its host is BACKEND_URL). */
  function follow(signed: string, method: 'GET' | 'HEAD' = 'GET') {
    const u = new URL(signed);
    expect(u.origin).toBe(t.config.http.backendUrl);
    return t.app.inject({ method, url: `${u.pathname}${u.search}` });
  }

  describe('GET /fileserve/signed-url/{path}', () => {
    it('answers a signed URL valid 7 days that serves the file', async () => {
      const before = Math.floor(Date.now() / 1000);
      const res = await t.app.inject({ url: `/fileserve/signed-url/${SHOP}/upload/a.png`, headers: auth() });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { signed_url: string };
      expect(Object.keys(body)).toEqual(['signed_url']);
      const exp = Number(new URL(body.signed_url).searchParams.get('exp'));
      expect(exp).toBeGreaterThanOrEqual(before + WEEK_S);
      expect(exp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + WEEK_S);

      const file = await follow(body.signed_url);
      expect(file.statusCode).toBe(200);
      expect(file.rawPayload.equals(files.mine)).toBe(true);
      expect(file.headers['content-type']).toBe('image/png');
      expect(file.headers['content-length']).toBe(String(files.mine.length));
      expect(file.headers['x-content-type-options']).toBe('nosniff');
      const csp = String(file.headers['content-security-policy']);
      expect(csp).toContain('frame-ancestors');
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain('sandbox');
      expect((await sharp(file.rawPayload).metadata()).width).toBe(12);
    });

    it('signs our avatars too', async () => {
      const res = await t.app.inject({ url: `/fileserve/signed-url/avatars/${SHOP}/logo.png`, headers: auth() });
      expect(res.statusCode).toBe(200);
      const file = await follow((res.json() as { signed_url: string }).signed_url);
      expect(file.rawPayload.equals(files.avatar)).toBe(true);
    });

    it('decodes the path exactly once', async () => {
      const once = await raw(`/fileserve/signed-url/${SHOP}/upload/%2541.png`, auth());
      expect(once.statusCode).toBe(200);
      const file = await follow((once.json() as { signed_url: string }).signed_url);
      expect(file.rawPayload.equals(files.mine)).toBe(true);
    });

    it('needs authentication (401 before any path check)', async () => {
      for (const p of [`${SHOP}/upload/a.png`, `${SHOP}/../${OTHER}/upload/secret.png`]) {
        const res = await t.app.inject(`/fileserve/signed-url/${p}`);
        expect(res.statusCode).toBe(401);
        expect((res.json() as { code: string }).code).toBe('UNAUTHENTICATED');
      }
    });

    it.each(HOSTILE_PATHS)('answers 404 for %s', async (label, p) => {
      const res = await raw(`/fileserve/signed-url/${p}`, auth());
      expectNotFound(res, label);
    });

    it('answers 400 for malformed percent-encoding in the path (the router refuses it)', async () => {
      const res = await raw(`/fileserve/signed-url/${SHOP}/upload/%E0%A4%A.png`, auth());
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ error: 'Bad request', code: 'BAD_REQUEST' });
    });

    it("does serve the other shop its own file (the 404s above are about ownership, not the file)", async () => {
      const { cookie: theirs } = await devLogin(t.app, OTHER);
      const res = await t.app.inject({ url: `/fileserve/signed-url/${OTHER}/upload/secret.png`, headers: { cookie: theirs } });
      expect(res.statusCode).toBe(200);
      expect((await follow((res.json() as { signed_url: string }).signed_url)).rawPayload.equals(files.theirs)).toBe(true);
    });
  });

  describe('GET /fileserve/download?path=', () => {
    it('streams the file as an attachment', async () => {
      const res = await t.app.inject({
        url: `/fileserve/download?path=${encodeURIComponent(`${SHOP}/upload/a.png`)}`,
        headers: auth(),
      });
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.equals(files.mine)).toBe(true);
      expect(res.headers['content-disposition']).toBe(`attachment; filename="a.png"; filename*=UTF-8''a.png`);
      expect(res.headers['content-type']).toBe('image/png');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['cache-control']).toBe('private, no-store');
      expect(String(res.headers['content-security-policy'])).toMatch(/^frame-ancestors .+; default-src 'none'; sandbox$/);
    });

    it('gives a safe filename for an awkward name', async () => {
      const key = `${SHOP}/upload/my "photo"; name=évil.png`;
      await t.container.storage.put(key, files.mine, 'image/png');
      const res = await t.app.inject({ url: `/fileserve/download?path=${encodeURIComponent(key)}`, headers: auth() });
      expect(res.statusCode).toBe(200);
      const disposition = String(res.headers['content-disposition']);
      expect(disposition).toMatch(/^attachment; filename="[A-Za-z0-9._-]+"; filename\*=UTF-8''[A-Za-z0-9._~%-]+$/);
      expect(disposition).toContain(`filename*=UTF-8''${encodeURIComponent('my "photo"; name=évil.png')}`);
    });

    it('needs authentication', async () => {
      const res = await t.app.inject(`/fileserve/download?path=${encodeURIComponent(`${SHOP}/upload/a.png`)}`);
      expect(res.statusCode).toBe(401);
    });

    it('answers 400 without a path, or with two', async () => {
      const two = `/fileserve/download?path=${SHOP}/upload/a.png&path=${OTHER}/upload/secret.png`;
      for (const url of ['/fileserve/download', '/fileserve/download?path=', two]) {
        const res = await t.app.inject({ url, headers: auth() });
        expect(res.statusCode, url).toBe(400);
        expect((res.json() as { code: string }).code).toBe('VALIDATION_FAILED');
      }
    });

    it.each(HOSTILE_PATHS.filter(([, p]) => p !== ''))('answers 404 for %s', async (label, p) => {
      // The query value is sent as written: hostile bytes raw, percent sequences as given.
      expectNotFound(await raw(`/fileserve/download?path=${p}`, auth()), label);
    });

    it('answers 404 for malformed percent-encoding in the query', async () => {
      expectNotFound(await raw(`/fileserve/download?path=${SHOP}/upload/%E0%A4%A.png`, auth()), 'malformed');
    });

    it('decodes the query exactly once', async () => {
      const res = await raw(`/fileserve/download?path=${SHOP}/upload/%2541.png`, auth());
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('PNG');
    });

    it('decodes the query once: a double-encoded ../ is a literal name, not a way out', async () => {
      const res = await t.app.inject({
        url: `/fileserve/download?path=${encodeURIComponent(`${SHOP}/%2e%2e/${OTHER}/upload/secret.png`)}`,
        headers: auth(),
      });
      expectNotFound(res, 'double-encoded');
    });
  });

  describe('GET /files/{path}?exp&sig', () => {
    const secret = () => deriveKey(t.config.jwtSecret, 'files');
    const sign = (key: string, exp: number) => createHmac('sha256', secret()).update(`${exp}\n${key}`).digest('base64url');

    it('serves a file for a valid signature, GET and HEAD', async () => {
      const url = await t.container.storage.signedUrl(`${SHOP}/upload/a.png`, 60);
      const res = await follow(url);
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.equals(files.mine)).toBe(true);
      expect(res.headers['content-disposition']).toBeUndefined();
      const head = await follow(url, 'HEAD');
      expect(head.statusCode).toBe(200);
      expect(head.headers['content-type']).toBe('image/png');
      expect(head.rawPayload.length).toBe(0);
    });

    it('answers 404 for an expired signature (documented choice: 404, never 403)', async () => {
      const url = await t.container.storage.signedUrl(`${SHOP}/upload/a.png`, -1);
      expectNotFound(await follow(url), 'expired');
    });

    it('answers 404 for a tampered signature, a changed expiry, or a signature of another file', async () => {
      const u = new URL(await t.container.storage.signedUrl(`${SHOP}/upload/a.png`, 60));
      const exp = u.searchParams.get('exp')!;
      const sig = u.searchParams.get('sig')!;
      const flipped = flip(sig);
      expectNotFound(await t.app.inject(`${u.pathname}?exp=${exp}&sig=${flipped}`), 'tampered');
      expectNotFound(await t.app.inject(`${u.pathname}?exp=${Number(exp) + 60}&sig=${sig}`), 'longer expiry');
      expectNotFound(await t.app.inject(`${u.pathname}?exp=abc&sig=${sig}`), 'non-numeric expiry');
      expectNotFound(await t.app.inject(`/files/${OTHER}/upload/secret.png?exp=${exp}&sig=${sig}`), 'other file');
      expectNotFound(await t.app.inject(`/files/${OTHER}/upload/secret.png?exp=${exp}&sig=${flip(sign(`${OTHER}/upload/secret.png`, Number(exp)))}`), 'near miss');
    });

    it('answers 400 without exp or sig', async () => {
      for (const q of ['', '?exp=1', '?sig=x']) {
        const res = await t.app.inject(`/files/${SHOP}/upload/a.png${q}`);
        expect(res.statusCode, q).toBe(400);
      }
    });

    it.each(HOSTILE_PATHS)('answers 404 for %s, even with a valid signature of the decoded path', async (label, p) => {
      const exp = Math.floor(Date.now() / 1000) + 60;
      let decoded: string;
      try {
        decoded = decodeURIComponent(p);
      } catch {
        decoded = p;
      }
      // Signed with the server's own secret: only the path rules and the storage stop these.
      for (const key of [decoded, p]) {
        const res = await raw(`/files/${p}?exp=${exp}&sig=${encodeURIComponent(sign(key, exp))}`);
        if (SAFE_EXISTING_ELSEWHERE.has(label)) {
          // /files carries no shop: a valid signature is the authorisation. Signed for the exact key, it serves.
          expect(res.statusCode, label).toBe(key === decoded ? 200 : 404);
          continue;
        }
        expectNotFound(res, `${label} (signed ${JSON.stringify(key)})`);
      }
    });

    it('never serves a file outside the storage root, even signed', async () => {
      const exp = Math.floor(Date.now() / 1000) + 60;
      for (const key of ['../outside.png', `${SHOP}/../../outside.png`, `${path.join(t.config.dataDir, 'outside.png')}`]) {
        const encoded = key.split('/').map(encodeURIComponent).join('/');
        expectNotFound(await raw(`/files/${encoded}?exp=${exp}&sig=${sign(key, exp)}`), key);
        expectNotFound(await raw(`/files/${key.replace(/^\//, '/')}?exp=${exp}&sig=${sign(key, exp)}`), key);
      }
    });
  });

  it('fetch() of a signed URL works end to end over HTTP', async () => {
    const res = await raw(`/fileserve/signed-url/${SHOP}/upload/a.png`, auth());
    const u = new URL((res.json() as { signed_url: string }).signed_url);
    const address = t.app.server.address() as { port: number };
    const file = await fetchOnce(`http://127.0.0.1:${address.port}${u.pathname}${u.search}`);
    expect(file.status).toBe(200);
    expect(Buffer.from(await file.arrayBuffer()).equals(files.mine)).toBe(true);
  });
});

describe.each(['s3', 'supabase'] as const)('file endpoints on %s storage', (kind) => {
  let t: TestApp;
  let files: Files;
  let cookie: string;
  let s3: LocalS3 | undefined;
  let supabase: FakeSupabaseStorage | undefined;
  let raw: Raw;
  beforeAll(async () => {
    let env: Record<string, string>;
    if (kind === 's3') {
      s3 = await startLocalS3();
      env = s3.env;
    } else {
      supabase = await startFakeSupabaseStorage({ buckets: ['app-files'] });
      env = { SUPABASE_URL: supabase.url, SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey, SUPABASE_BUCKET: 'app-files' };
    }
    t = await createTestApp({ env });
    files = await seed(t);
    ({ cookie } = await devLogin(t.app, SHOP));
    raw = await rawClient(t);
  });
  afterAll(async () => {
    await t?.close();
    await s3?.close();
    await supabase?.close();
  });

  it('is wired by the container from the environment and ready', async () => {
    expect(t.container.storage.kind).toBe(kind);
    const ready = await t.app.inject('/ready');
    expect(ready.json()).toMatchObject({ checks: { storage: 'ok' } });
  });

  it('signs a URL of the provider that fetch() can GET', async () => {
    const res = await t.app.inject({ url: `/fileserve/signed-url/${SHOP}/upload/a.png`, headers: { cookie } });
    expect(res.statusCode).toBe(200);
    const { signed_url } = res.json() as { signed_url: string };
    const origin = kind === 's3' ? s3!.endpoint : supabase!.url;
    expect(signed_url.startsWith(`${origin}/`)).toBe(true);
    if (kind === 's3') expect(new URL(signed_url).searchParams.get('X-Amz-Expires')).toBe(String(WEEK_S));
    const file = await fetchOnce(signed_url);
    expect(file.status).toBe(200);
    expect(Buffer.from(await file.arrayBuffer()).equals(files.mine)).toBe(true);
  });

  it('streams a download', async () => {
    const res = await t.app.inject({
      url: `/fileserve/download?path=${encodeURIComponent(`avatars/${SHOP}/logo.png`)}`,
      headers: { cookie },
    });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(files.avatar)).toBe(true);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.headers['content-disposition']).toContain('attachment; filename="logo.png"');
  });

  it('answers 404 for /files (local storage only)', async () => {
    expectNotFound(await t.app.inject(`/files/${SHOP}/upload/a.png?exp=9999999999&sig=x`), '/files');
  });

  it.each(HOSTILE_PATHS)('answers 404 for %s on both endpoints', async (label, p) => {
    expectNotFound(await raw(`/fileserve/signed-url/${p}`, { cookie }), label);
    if (p) expectNotFound(await raw(`/fileserve/download?path=${p}`, { cookie }), label);
  });
});

describe('readiness with an unusable provider', () => {
  it('reports storage: fail when the bucket does not exist', async () => {
    const s3 = await startLocalS3('exists');
    const t = await createTestApp({ env: { ...s3.env, S3_BUCKET: 'missing-bucket' } });
    try {
      const res = await t.app.inject('/ready');
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ checks: { storage: 'fail' } });
    } finally {
      await t.close();
      await s3.close();
    }
  });
});
