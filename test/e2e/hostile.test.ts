import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';

/**
 * Generated hostile input against every route: whatever arrives, the answer
 * is a 2xx/3xx or a 4xx with the error shape, never a 5xx, never a hang, and
 * never a stack trace, a token or a secret in the body.
 */

const RUNS = Number(process.env.HOSTILE_RUNS ?? 25);
const ANSWER_WITHIN_MS = 5000;

const hostileText = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.constantFrom(
    '..',
    '../../etc/passwd',
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '%252e%252e%252f',
    '..\\..\\windows',
    '/etc/passwd',
    '%00',
    'a\u0000b',
    '\u202e\u0000\ud83d\ude00',
    "' or 1=1 --",
    '<script>alert(1)</script>',
    '${7*7}',
    '__proto__',
    'constructor',
    'x'.repeat(5000),
    '\r\nSet-Cookie: evil=1',
  ),
);

/** Nested arrays/objects as deep as a hostile client likes. */
const deepJson = fc.integer({ min: 50, max: 5000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth));

const body = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((b) => ({ payload: Buffer.from(b), type: 'application/octet-stream' })),
  fc.json({ maxDepth: 4 }).map((j) => ({ payload: j, type: 'application/json' })),
  deepJson.map((j) => ({ payload: j, type: 'application/json' })),
  fc.string({ maxLength: 200 }).map((s) => ({ payload: s, type: 'application/json' })),
  fc.string({ maxLength: 200 }).map((s) => ({ payload: s, type: 'text/plain' })),
  fc.string({ maxLength: 200 }).map((s) => ({ payload: s, type: 'multipart/form-data; boundary=xyz' })),
  fc.constant({ payload: 'a'.repeat(3 * 1024 * 1024), type: 'application/json' }),
  fc.constant({ payload: '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}}', type: 'application/json' }),
);

const headerValue = fc.oneof(fc.string({ maxLength: 100 }), fc.constantFrom('x'.repeat(8000), 'Bearer ', 'Bearer a.b.c', 'é€😀'));

function fillPath(url: string, segment: string): string {
  return url.replace(/:[A-Za-z_]+/g, encodeURIComponent(segment)).replace(/\*$/, segment);
}

describe('hostile input on every route', () => {
  let t: TestApp;
  let cookie: string;
  let secrets: string[];

  // A dashboard build of its own: /app answers 503 until one exists, and whether the tree's own
  // dist/web is there depends on which test files ran before (web-app.test covers the unbuilt case).
  const webDist = mkdtempSync(path.join(tmpdir(), 'hostile-web-'));

  beforeAll(async () => {
    mkdirSync(path.join(webDist, 'assets'));
    writeFileSync(path.join(webDist, 'index.html'), '<!doctype html><html><head><!-- app-config --></head><body></body></html>');
    writeFileSync(path.join(webDist, 'assets', 'index-abc123.js'), 'console.log(1);');
    t = await createTestApp({ env: { MAX_UPLOAD_MB: '1', WEB_DIST_DIR: webDist } });
    ({ cookie } = await devLogin(t.app, 'target.myshopify.com'));
    secrets = [t.config.jwtSecret, t.config.tokenEncryptionKey.toString('base64'), cookie.slice('session='.length)];
  });
  afterAll(async () => {
    await t.close();
    rmSync(webDist, { recursive: true, force: true });
  });

  const tally = { answered: 0, refusedByClient: 0 };
  async function send(options: InjectOptions): Promise<LightMyRequestResponse | 'refused-by-client'> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const res = await Promise.race([
        t.app.inject(options),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_WITHIN_MS} ms`)), ANSWER_WITHIN_MS);
        }),
      ]);
      tally.answered++;
      return res;
    } catch (err) {
      // Node's own HTTP client rules (invalid header characters) stop some inputs before they are sent.
      if (err instanceof TypeError || /Invalid character|ERR_INVALID/.test(String(err))) {
        tally.refusedByClient++;
        return 'refused-by-client';
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  function checkAnswer(res: LightMyRequestResponse | 'refused-by-client', what: string) {
    if (res === 'refused-by-client') return;
    expect(res.statusCode, `${what} -> ${res.statusCode} ${res.body.slice(0, 200)}`).toBeLessThan(500);
    if (res.statusCode >= 400) {
      const parsed = JSON.parse(res.body) as { error?: unknown; code?: unknown };
      expect(parsed.error, what).toBeTruthy();
      expect(typeof parsed.code, what).toBe('string');
    }
    expect(res.body).not.toMatch(/\n\s+at .+:\d+:\d+/); // a stack trace
    for (const secret of secrets) expect(res.body.includes(secret), `${what} leaks a secret`).toBe(false);
  }

  it('every route answers generated garbage with a 4xx, never a 5xx', async () => {
    const routes = t.app.routeList;
    expect(routes.length).toBeGreaterThan(10);
    for (const route of routes) {
      const streaming = route.url === '/images/events';
      await fc.assert(
        fc.asyncProperty(
          hostileText,
          fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), hostileText, { maxKeys: 4 }),
          body,
          fc.boolean(),
          headerValue,
          async (segment, query, b, signedIn, header) => {
            const url = fillPath(route.url, segment);
            const options: InjectOptions = {
              method: route.method as InjectOptions['method'],
              url,
              query,
              headers: {
                'x-request-id': header,
                'idempotency-key': header,
                ...(route.method === 'GET' ? {} : { 'content-type': b.type }),
                ...(signedIn && !streaming ? { cookie } : { authorization: header }),
              },
              ...(route.method === 'GET' ? {} : { payload: b.payload }),
            };
            checkAnswer(await send(options), `${route.method} ${url}`);
          },
        ),
        { numRuns: RUNS },
      );
    }
    // Most generated requests really reach the app (the property is not vacuous).
    expect(tally.answered).toBeGreaterThan(routes.length * RUNS * 0.5);
  });

  it('cookies and Authorization headers full of garbage are a 401, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(hostileText, hostileText, async (a, b) => {
        const res = await send({ url: '/me', headers: { cookie: `session=${a}`, authorization: `Bearer ${b}` } });
        checkAnswer(res, 'GET /me');
        if (res !== 'refused-by-client') expect(res.statusCode).toBe(401);
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it('unicode and traversal in paths reach no file and no 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(hostileText, async (segment) => {
        for (const url of [`/${segment}`, `/files/${segment}`, `/images/${encodeURIComponent(segment)}`]) {
          checkAnswer(await send({ url, headers: { cookie } }), `GET ${url}`);
        }
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it('header injection attempts never reach a response header', async () => {
    const res = await send({ url: '/health', headers: { 'x-request-id': 'a\r\nSet-Cookie: evil=1' } });
    if (res !== 'refused-by-client') {
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers['x-request-id']).not.toContain('\n');
    }
    const redirect = await send({ url: '/credits/confirm?purchaseId=%0d%0aLocation:%20https://evil.example' });
    checkAnswer(redirect, 'confirm with CRLF');
    if (redirect !== 'refused-by-client') expect(String(redirect.headers.location ?? '')).not.toContain('evil');
  });

  it('a cross-site post with the session cookie is a 403 CROSS_SITE_REQUEST on every state-changing route', async () => {
    const posts = t.app.routeList.filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method));
    expect(posts.length).toBeGreaterThan(3);
    for (const route of posts) {
      for (const headers of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }]) {
        const res = await send({
          method: route.method as 'POST',
          url: fillPath(route.url, 'x'),
          headers: { cookie, 'content-type': 'application/json', ...headers },
          payload: '{}',
        });
        if (res === 'refused-by-client') continue;
        expect(res.statusCode, `${route.method} ${route.url}`).toBe(403);
        expect((res.json() as { code: string }).code).toBe('CROSS_SITE_REQUEST');
      }
    }
  });
});
