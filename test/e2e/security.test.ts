import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { hs256, sessionClaims } from '../helpers/tokens.js';

const FRONTEND = 'https://dash.example.com';
const ADMIN = 'https://admin.shopify.com';
const SHOP = 'sec.myshopify.com';
const framedBy = (shop: string) => `frame-ancestors https://${shop} ${ADMIN}`;

describe('security headers', () => {
  let t: TestApp;
  let cookie: string;
  beforeAll(async () => {
    t = await createTestApp({ env: { FRONTEND_URL: FRONTEND, BACKEND_URL: 'https://api.example.com' } });
    await t.container.db.execute(sql`insert into shops (domain, installed_at) values (${SHOP}, now())`);
    cookie = `session=${await t.container.auth.issueSession(SHOP)}`;
  });
  afterAll(() => t.close());

  it.each([
    ['a route without a shop', '/health'],
    ['an unknown route', '/nope'],
    ['an invalid ?shop=', '/health?shop=evil.com'],
    ['a ?shop= with a suffix trick', '/health?shop=a.myshopify.com.evil.com'],
    ['a ?shop= that tries header injection', '/health?shop=a.myshopify.com%0d%0aSet-Cookie:%20x=1'],
    ['a ?shop= with a space and a second source', '/health?shop=a.myshopify.com%20https://evil.com'],
    ['several ?shop= values', '/health?shop=a.myshopify.com&shop=b.myshopify.com'],
  ])("frame-ancestors 'none' for %s", async (_name, url) => {
    const res = await t.app.inject(url);
    expect(res.headers['content-security-policy']).toBe("frame-ancestors 'none'");
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('frame-ancestors names the shop of a valid ?shop= (lower-cased) and the admin', async () => {
    const res = await t.app.inject('/health?shop=Other.myshopify.com');
    expect(res.headers['content-security-policy']).toBe(framedBy('other.myshopify.com'));
  });

  it('frame-ancestors names the verified shop, not a ?shop= that disagrees', async () => {
    const res = await t.app.inject({ url: '/me?shop=other.myshopify.com', headers: { cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-security-policy']).toBe(framedBy(SHOP));
  });

  it('a forged cookie does not name its shop in frame-ancestors', async () => {
    const forged = `session=${await hs256(sessionClaims(SHOP), 'w'.repeat(40))}`;
    const res = await t.app.inject({ url: '/me', headers: { cookie: forged } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-security-policy']).toBe("frame-ancestors 'none'");
  });

  it.each(['/health', '/me', '/nope', '/docs/'])('%s: no X-Frame-Options, nosniff, Referrer-Policy, HSTS (https backend)', async (url) => {
    const res = await t.app.inject({ url, headers: { cookie } });
    expect(res.headers['x-frame-options']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(res.headers['content-security-policy']).toMatch(/^frame-ancestors /);
  });

  it('a 429 carries the same headers', async () => {
    const limited = await createTestApp({ env: { RL_BURST_LIMIT: '1' } });
    try {
      await limited.app.inject('/me?shop=x.myshopify.com');
      const res = await limited.app.inject('/me?shop=x.myshopify.com');
      expect(res.statusCode).toBe(429);
      expect(res.headers['x-frame-options']).toBeUndefined();
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-security-policy']).toBe(framedBy('x.myshopify.com'));
    } finally {
      await limited.close();
    }
  });
});

describe('HSTS only with an https BACKEND_URL', () => {
  it('is absent for an http backend', async () => {
    const t = await createTestApp({ env: { BACKEND_URL: 'http://localhost:8080' } });
    try {
      const res = await t.app.inject('/health');
      expect(res.headers['strict-transport-security']).toBeUndefined();
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    } finally {
      await t.close();
    }
  });
});

describe('CORS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { FRONTEND_URL: `${FRONTEND}/` } });
  });
  afterAll(() => t.close());

  const preflight = (origin: string, url = '/me', method = 'GET', headers = 'authorization,content-type') =>
    t.app.inject({
      method: 'OPTIONS',
      url,
      headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
    });

  it.each([FRONTEND, ADMIN])('allows a preflight from %s with credentials', async (origin) => {
    const res = await preflight(origin, '/credits/purchase', 'POST', 'content-type,idempotency-key,authorization');
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(origin);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(String(res.headers['access-control-allow-methods'])).toMatch(/POST/);
    const allowed = String(res.headers['access-control-allow-headers']).toLowerCase();
    for (const h of ['authorization', 'content-type', 'idempotency-key']) expect(allowed).toContain(h);
    expect(res.headers['access-control-max-age']).toBe('600');
    expect(String(res.headers.vary)).toMatch(/Origin/i);
  });

  it.each([
    ['another origin', 'https://evil.example.com'],
    ['the frontend over http', 'http://dash.example.com'],
    ['a suffix trick', 'https://dash.example.com.evil.com'],
    ['a prefix trick', 'https://evil-dash.example.com'],
    ['another port', 'https://dash.example.com:8443'],
    ['the null origin', 'null'],
    ['a shop admin lookalike', 'https://admin.shopify.com.evil.com'],
    ['a store domain', 'https://sec.myshopify.com'],
  ])('refuses a preflight from %s (no Access-Control-Allow-Origin)', async (_name, origin) => {
    const res = await preflight(origin);
    expect(res.statusCode).toBeLessThan(500);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('an actual request from the frontend gets the CORS headers and sees the rate-limit headers', async () => {
    const res = await t.app.inject({ url: '/me', headers: { origin: FRONTEND } });
    expect(res.headers['access-control-allow-origin']).toBe(FRONTEND);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    const exposed = String(res.headers['access-control-expose-headers']).toLowerCase();
    for (const h of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after', 'x-request-id']) {
      expect(exposed).toContain(h);
    }
  });

  it('an actual request from another origin gets no CORS headers', async () => {
    const res = await t.app.inject({ url: '/me', headers: { origin: 'https://evil.example.com' } });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });
});
