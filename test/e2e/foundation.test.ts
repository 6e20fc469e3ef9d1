import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS } from '../helpers/db.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { API_KEY, API_SECRET, insertInstalledShop, SHOPIFY_ENV } from '../helpers/shopify.js';
import { hs256, hs384, nowS, rs256, sessionClaims, shopifyClaims, unsignedToken } from '../helpers/tokens.js';

const SHOP = 'demo.myshopify.com';

function expectError(res: { statusCode: number; json(): unknown; body: string }, status: number, code: string) {
  expect(res.statusCode).toBe(status);
  const body = res.json() as { error: unknown; code: string };
  expect(body.code).toBe(code);
  expect(body.error).toBeTruthy();
  expect(res.body).not.toMatch(/at .+\.(ts|js):\d+/); // no stack trace
}

describe('operations endpoints', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('GET /health answers ok', async () => {
    const res = await t.app.inject('/health');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('GET /ready checks db, queue and storage', async () => {
    const res = await t.app.inject('/ready');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', checks: { db: 'ok', queue: 'ok', storage: 'ok' } });
  });

  it('GET /metrics labels requests by route template, never by raw path', async () => {
    await t.app.inject('/nothing/secret-shop-path-123');
    await t.app.inject('/health');
    const res = await t.app.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/http_requests_total\{method="GET",route="\/health",status="200"\} \d+/);
    expect(res.body).toMatch(/route="unmatched",status="404"/);
    expect(res.body).not.toContain('secret-shop-path-123');
  });

  it('serves the OpenAPI document with every route, and Swagger UI', async () => {
    const doc = (await t.app.inject('/openapi.json')).json() as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(t.app.routeList.length).toBeGreaterThan(5);
    for (const route of t.app.routeList) {
      const path = route.url.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/\*$/, '{*}');
      expect(doc.paths[path], `${route.method} ${route.url} in /openapi.json`).toHaveProperty([route.method.toLowerCase()]);
    }
    for (const path of ['/health', '/ready', '/metrics', '/me', '/credits/me', '/auth/dev-login']) {
      expect(doc.paths).toHaveProperty([path]);
    }
    const ui = await t.app.inject('/docs/');
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger');
  });

  it('echoes a sane X-Request-Id and replaces a hostile one', async () => {
    const sane = await t.app.inject({ url: '/health', headers: { 'x-request-id': 'abc-123' } });
    expect(sane.headers['x-request-id']).toBe('abc-123');
    const hostile = await t.app.inject({ url: '/health', headers: { 'x-request-id': 'a b<script>' } });
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const none = await t.app.inject('/health');
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers unknown routes and methods with a JSON 404', async () => {
    expectError(await t.app.inject('/nope'), 404, 'NOT_FOUND');
    expectError(await t.app.inject({ method: 'DELETE', url: '/me' }), 404, 'NOT_FOUND');
  });

  it('sends the embedded-app security headers', async () => {
    const res = await t.app.inject('/health');
    expect(res.headers['x-frame-options']).toBeUndefined();
    expect(res.headers['content-security-policy']).toBe("frame-ancestors 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBeDefined();
  });
});

describe.each(DB_KINDS)('authentication on %s', (db) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ db });
  });
  afterAll(() => t.close());

  it('dev-login installs the shop with 10 free credits and sets the compat cookies', async () => {
    const res = await t.app.inject(`/auth/dev-login?shop=${SHOP}`);
    expect(res.statusCode).toBe(200);
    const body = res.json() as { shop: string; token: string };
    expect(body.shop).toBe(SHOP);
    const cookies = Object.fromEntries(res.cookies.map((c) => [c.name, c]));
    expect(cookies.session).toMatchObject({ value: body.token, httpOnly: true, secure: true, sameSite: 'None', path: '/' });
    expect(cookies.shop).toMatchObject({ value: SHOP, secure: true, sameSite: 'None', path: '/', maxAge: 86400 });
    expect(cookies.shop!.httpOnly).toBeFalsy();
    expect(cookies.host).toMatchObject({ secure: true, sameSite: 'None', maxAge: 86400 });
    expect(res.headers['content-security-policy']).toBe(`frame-ancestors https://${SHOP} https://admin.shopify.com`);

    const [header, payload] = body.token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    expect(header.alg).toBe('HS256');
    expect(payload).toMatchObject({ sub: SHOP, shop: SHOP, role: 'authenticated' });
    expect(payload.exp - payload.iat).toBe(86400);
  });

  it('GET /me and GET /credits/me answer with the cookie', async () => {
    const { cookie } = await devLogin(t.app, SHOP);
    const me = await t.app.inject({ url: '/me', headers: { cookie } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual({ shop: SHOP, status: 'authenticated', plan: 'free', credits: 10 });
    const credits = await t.app.inject({ url: '/credits/me', headers: { cookie } });
    expect(credits.json()).toEqual({ credits: 10 });
  });

  it('a second dev-login (a reinstall) grants nothing more', async () => {
    const { cookie } = await devLogin(t.app, 'again.myshopify.com');
    await t.container.db.execute(sql`update shops set uninstalled_at = now() where domain = 'again.myshopify.com'`);
    await devLogin(t.app, 'again.myshopify.com');
    await devLogin(t.app, 'AGAIN.myshopify.com');
    const res = await t.app.inject({ url: '/credits/me', headers: { cookie } });
    expect(res.json()).toEqual({ credits: 10 });
  });

  it.each([
    ['evil.com'],
    ['shop.myshopify.com.evil.com'],
    ['shop.myshopify.com/'],
    ['shop.myshopify.com:443'],
    ['user@shop.myshopify.com'],
    ['-shop.myshopify.com'],
    [''],
  ])('dev-login refuses the shop %j with a 400', async (shop) => {
    const res = await t.app.inject(`/auth/dev-login?shop=${encodeURIComponent(shop)}`);
    expect(res.statusCode).toBe(400);
    expect(['INVALID_SHOP', 'VALIDATION_FAILED']).toContain((res.json() as { code: string }).code);
  });

  it('dev-login without a shop is a validation failure', async () => {
    const res = await t.app.inject('/auth/dev-login');
    expectError(res, 400, 'VALIDATION_FAILED');
    expect((res.json() as { details: unknown[] }).details.length).toBeGreaterThan(0);
  });

  it('dev-login lower-cases the shop', async () => {
    const res = await t.app.inject('/auth/dev-login?shop=MiXeD.myshopify.com');
    expect((res.json() as { shop: string }).shop).toBe('mixed.myshopify.com');
  });

  describe('refuses bad credentials with 401', () => {
    const cases: Array<[string, () => Promise<Record<string, string>>]> = [
      ['no credentials', async () => ({})],
      ['a garbage cookie', async () => ({ cookie: 'session=%%%garbage%%%' })],
      ['a cookie that is not a JWT', async () => ({ cookie: 'session=abc.def' })],
      ['an oversized cookie', async () => ({ cookie: `session=${'a'.repeat(9000)}` })],
      ['alg none', async () => ({ cookie: `session=${unsignedToken(sessionClaims(SHOP))}` })],
      ['a wrong key', async () => ({ cookie: `session=${await hs256(sessionClaims(SHOP), 'w'.repeat(40))}` })],
      ['RS256', async () => ({ cookie: `session=${await rs256(sessionClaims(SHOP))}` })],
      ['HS384 with the right secret', async () => ({ cookie: `session=${await hs384(sessionClaims(SHOP), t.config.jwtSecret)}` })],
      [
        'an expired token',
        async () => ({
          cookie: `session=${await hs256(sessionClaims(SHOP, { iat: nowS() - 90_000, exp: nowS() - 10 }), t.config.jwtSecret)}`,
        }),
      ],
      [
        'sub and shop that disagree',
        async () => ({
          cookie: `session=${await hs256(sessionClaims(SHOP, { sub: 'other.myshopify.com' }), t.config.jwtSecret)}`,
        }),
      ],
      [
        'an invalid shop claim',
        async () => ({ cookie: `session=${await hs256(sessionClaims('evil.com'), t.config.jwtSecret)}` }),
      ],
      [
        'a shop that was never installed',
        async () => ({ cookie: `session=${await hs256(sessionClaims('never.myshopify.com'), t.config.jwtSecret)}` }),
      ],
      ['a malformed Authorization header', async () => ({ authorization: 'Basic Zm9vOmJhcg==' })],
      ['a Bearer token in local mode', async () => ({ authorization: `Bearer ${await hs256(shopifyClaims(SHOP, 'k'), 'x'.repeat(32))}` })],
    ];
    it.each(cases)('%s', async (_name, headers) => {
      await devLogin(t.app, SHOP);
      expectError(await t.app.inject({ url: '/me', headers: await headers() }), 401, 'UNAUTHENTICATED');
    });
  });

  it('a shop uninstalled since its cookie was issued gets 401', async () => {
    const { cookie } = await devLogin(t.app, 'gone.myshopify.com');
    expect((await t.app.inject({ url: '/me', headers: { cookie } })).statusCode).toBe(200);
    await t.container.db.execute(sql`update shops set uninstalled_at = now() where domain = 'gone.myshopify.com'`);
    expectError(await t.app.inject({ url: '/me', headers: { cookie } }), 401, 'UNAUTHENTICATED');
  });
});

describe('Shopify mode', () => {
  const apiKey = API_KEY;
  const apiSecret = API_SECRET;
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: SHOPIFY_ENV });
    await insertInstalledShop(t, SHOP);
    await t.container.db.execute(sql`insert into shop_credits (shop, balance) values (${SHOP}, 3)`);
  });
  afterAll(() => t.close());

  it('has no dev-login', async () => {
    expectError(await t.app.inject(`/auth/dev-login?shop=${SHOP}`), 404, 'NOT_FOUND');
  });

  it('accepts a valid Shopify session token as Bearer', async () => {
    const token = await hs256(shopifyClaims(SHOP, apiKey), apiSecret);
    const res = await t.app.inject({ url: '/credits/me', headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ credits: 3 });
    expect(res.headers['content-security-policy']).toBe(`frame-ancestors https://${SHOP} https://admin.shopify.com`);
  });

  // Claims are made when the test runs: times taken at collection would drift past the leeway on a loaded machine.
  it.each([
    ['another aud', () => ({ aud: 'other-key' })],
    ['another shop in dest than in iss', () => ({ dest: 'https://other.myshopify.com' })],
    ['an invalid shop', () => ({ iss: 'https://evil.com/admin', dest: 'https://evil.com' })],
    ['expired beyond the leeway', () => ({ exp: nowS() - 30 })],
    ['not yet valid beyond the leeway', () => ({ nbf: nowS() + 60 })],
  ])('refuses a session token with %s', async (_name, overrides) => {
    const token = await hs256(shopifyClaims(SHOP, apiKey, overrides()), apiSecret);
    expectError(await t.app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } }), 401, 'UNAUTHENTICATED');
  });

  it('accepts exp within the 10 s leeway', async () => {
    const token = await hs256(shopifyClaims(SHOP, apiKey, { exp: nowS() - 5 }), apiSecret);
    expect((await t.app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
  });

  it.each([
    ['alg none', () => Promise.resolve(unsignedToken(shopifyClaims(SHOP, apiKey)))],
    ['RS256', () => rs256(shopifyClaims(SHOP, apiKey))],
    ['another secret', () => hs256(shopifyClaims(SHOP, apiKey), 'another-secret-0123456789abcdef')],
  ])('refuses a session token signed with %s', async (_name, sign) => {
    const token = await sign();
    expectError(await t.app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } }), 401, 'UNAUTHENTICATED');
  });
});
