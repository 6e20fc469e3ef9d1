import { randomUUID } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { createContainer } from '../../src/container.js';
import { buildApp } from '../../src/http/app.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { API_KEY, API_SECRET, insertInstalledShop, SHOPIFY_ENV } from '../helpers/shopify.js';
import { freePort, waitFor } from '../helpers/process.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { REDIS_TEST_URL, redisAvailable } from '../helpers/services.js';
import { hs256, sessionClaims, shopifyClaims, unsignedToken } from '../helpers/tokens.js';

/** The spec's defaults, set explicitly (createTestApp raises limits for other suites). */
const DEFAULT_LIMITS = {
  RL_BURST_LIMIT: '10',
  RL_BURST_WINDOW: '1',
  RL_SUST_LIMIT: '60',
  RL_SUST_WINDOW: '60',
  RL_UPLOAD_BURST_LIMIT: '5',
  RL_UPLOAD_SUST_LIMIT: '30',
};
const VIP = 'vip.myshopify.com';

type Res = LightMyRequestResponse;

function expectLimited(res: Res, limit: number) {
  expect(res.statusCode).toBe(429);
  expect(res.json()).toEqual({ error: 'Rate limit exceeded', code: 'RATE_LIMITED' });
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(res.headers['ratelimit-limit']).toBe(String(limit));
  expect(res.headers['ratelimit-remaining']).toBe('0');
  expect(Number(res.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(1);
}

async function burst(t: TestApp, n: number, request: (i: number) => InjectOptions) {
  const results: Res[] = [];
  for (let i = 0; i < n; i++) results.push(await t.app.inject(request(i)));
  return results;
}


describe('rate limits (in-process limiter, spec defaults)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { ...DEFAULT_LIMITS, RL_ALLOWLIST: VIP } });
  });
  afterAll(() => t.close());

  it('the 11th request within a second gets 429 with RateLimit-* and Retry-After, and is counted', async () => {
    const results = await burst(t, 11, () => ({ url: '/me', remoteAddress: '10.0.0.1' }));
    for (const [i, res] of results.slice(0, 10).entries()) {
      expect(res.statusCode).toBe(401); // limited before authentication
      expect(res.headers['ratelimit-limit']).toBe('10');
      expect(res.headers['ratelimit-remaining']).toBe(String(9 - i));
      expect(res.headers['ratelimit-reset']).toBe('1');
    }
    expectLimited(results[10]!, 10);
    expect(results[10]!.headers['retry-after']).toBe('1');
    const metrics = await t.app.inject('/metrics');
    expect(metrics.body).toMatch(/rate_limit_rejections_total\{group="default"\} 1\b/);
    expect(metrics.body).toMatch(/http_requests_total\{method="GET",route="\/me",status="429"\} 1\b/);
  });

  it('/health, /ready, /metrics, /docs and OPTIONS are never limited nor counted', async () => {
    const ip = '10.0.0.2';
    for (const url of ['/health', '/ready', '/metrics', '/docs/', '/docs/json']) {
      const results = await burst(t, 25, () => ({ url, remoteAddress: ip }));
      for (const res of results) {
        expect(res.statusCode, url).toBe(200);
        expect(res.headers['ratelimit-limit'], url).toBeUndefined();
      }
    }
    const preflights = await burst(t, 25, () => ({
      method: 'OPTIONS',
      url: '/me',
      remoteAddress: ip,
      headers: { origin: 'https://admin.shopify.com', 'access-control-request-method': 'GET' },
    }));
    expect(preflights.every((r) => r.statusCode === 204 && r.headers['ratelimit-limit'] === undefined)).toBe(true);
    // None of them used the address's quota.
    const me = await t.app.inject({ url: '/me', remoteAddress: ip });
    expect(me.headers['ratelimit-remaining']).toBe('9');
  });

  it('unknown routes are limited too (scanners)', async () => {
    const results = await burst(t, 11, (i) => ({ url: `/nope-${i}`, remoteAddress: '10.0.0.3' }));
    expect(results[9]!.statusCode).toBe(404);
    expectLimited(results[10]!, 10);
  });

  it('rotating query parameters (?shop= included) does not reset the limit', async () => {
    const results = await burst(t, 11, (i) => ({
      url: `/me?shop=shop${i}.myshopify.com&cache=${i}`,
      remoteAddress: '10.0.0.4',
    }));
    expectLimited(results[10]!, 10);
  });

  it('rotating forged or unsigned tokens does not reset the limit (identity falls back to the IP)', async () => {
    const forgers: Array<(i: number) => Promise<Record<string, string>>> = [
      async (i) => ({ cookie: `session=${await hs256(sessionClaims(`f${i}.myshopify.com`), 'w'.repeat(40))}` }),
      async (i) => ({ cookie: `session=${unsignedToken(sessionClaims(`u${i}.myshopify.com`))}` }),
      async (i) => ({ authorization: `Bearer ${await hs256(shopifyClaims(`b${i}.myshopify.com`, 'k'), 'x'.repeat(32))}` }),
      async (i) => ({ cookie: `session=garbage-${i}` }),
    ];
    for (const [n, forge] of forgers.entries()) {
      const ip = `10.0.1.${n}`;
      const headers = await Promise.all(Array.from({ length: 11 }, (_, i) => forge(i)));
      const results = await burst(t, 11, (i) => ({ url: '/me', remoteAddress: ip, headers: headers[i]! }));
      expectLimited(results[10]!, 10);
    }
  });

  it('a forged token naming a real shop neither uses nor shares that shop\'s quota', async () => {
    const shop = 'victim.myshopify.com';
    await insertInstalledShop(t, shop);
    const forged = `session=${await hs256(sessionClaims(shop), 'w'.repeat(40))}`;
    const results = await burst(t, 11, () => ({ url: '/me', remoteAddress: '10.0.0.5', headers: { cookie: forged } }));
    expectLimited(results[10]!, 10);
    const real = `session=${await t.container.auth.issueSession(shop)}`;
    const res = await t.app.inject({ url: '/me', remoteAddress: '10.0.0.5', headers: { cookie: real } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['ratelimit-remaining']).toBe('9');
  });

  it('two verified shops behind one IP are limited independently; a shop keeps its limit across IPs', async () => {
    const [a, b] = ['shop-a.myshopify.com', 'shop-b.myshopify.com'];
    await insertInstalledShop(t, a);
    await insertInstalledShop(t, b);
    const cookieA = `session=${await t.container.auth.issueSession(a)}`;
    const cookieB = `session=${await t.container.auth.issueSession(b)}`;
    const results = await burst(t, 11, () => ({ url: '/me', remoteAddress: '10.0.0.6', headers: { cookie: cookieA } }));
    expect(results.slice(0, 10).every((r) => r.statusCode === 200)).toBe(true);
    expectLimited(results[10]!, 10);
    const resB = await t.app.inject({ url: '/me', remoteAddress: '10.0.0.6', headers: { cookie: cookieB } });
    expect(resB.statusCode).toBe(200);
    expect(resB.headers['ratelimit-remaining']).toBe('9');
    // Same shop from another address: still limited.
    expectLimited(await t.app.inject({ url: '/me', remoteAddress: '10.9.9.9', headers: { cookie: cookieA } }), 10);
    // The IP itself was not charged for the shop's requests.
    expect((await t.app.inject({ url: '/me', remoteAddress: '10.0.0.6' })).headers['ratelimit-remaining']).toBe('9');
  });

  it('RL_ALLOWLIST: a forged allowlisted shop is still limited, the verified one is not', async () => {
    await insertInstalledShop(t, VIP);
    const forged = [
      `session=${await hs256(sessionClaims(VIP), 'w'.repeat(40))}`,
      `session=${unsignedToken(sessionClaims(VIP))}`,
    ];
    for (const [n, cookie] of forged.entries()) {
      const results = await burst(t, 11, () => ({ url: '/me', remoteAddress: `10.0.2.${n}`, headers: { cookie } }));
      expectLimited(results[10]!, 10);
    }
    const real = `session=${await t.container.auth.issueSession(VIP)}`;
    const results = await burst(t, 30, () => ({ url: '/me', remoteAddress: '10.0.2.9', headers: { cookie: real } }));
    for (const res of results) {
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-limit']).toBeUndefined();
    }
  });

  it('X-Forwarded-For is ignored without TRUST_PROXY', async () => {
    const results = await burst(t, 11, (i) => ({
      url: '/me',
      remoteAddress: '10.0.0.7',
      headers: { 'x-forwarded-for': `203.0.113.${i}` },
    }));
    expectLimited(results[10]!, 10);
  });

  it('IPv6 clients are limited per /64 (rotating the interface id does not help)', async () => {
    const results = await burst(t, 11, (i) => ({ url: '/me', remoteAddress: `2001:db8:aa:bb::${(i + 1).toString(16)}` }));
    expectLimited(results[10]!, 10);
    const other = await t.app.inject({ url: '/me', remoteAddress: '2001:db8:aa:bc::1' });
    expect(other.statusCode).toBe(401);
  });
});

describe('rate limits: sustained window, /upload group, trusted proxy', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      env: { ...DEFAULT_LIMITS, RL_SUST_LIMIT: '15', RL_BURST_LIMIT: '100', TRUST_PROXY: '1' },
    });
  });
  afterAll(() => t.close());

  it('the 16th request within the sustained window gets 429 (RL_SUST_LIMIT=15)', async () => {
    const results = await burst(t, 16, () => ({ url: '/me', remoteAddress: '10.1.0.1' }));
    expect(results[14]!.headers['ratelimit-remaining']).toBe('0');
    expect(results[0]!.headers['ratelimit-limit']).toBe('15');
    expectLimited(results[15]!, 15);
    const retry = Number(results[15]!.headers['retry-after']);
    expect(retry).toBeGreaterThan(50);
    expect(retry).toBeLessThanOrEqual(60);
  });

  it('/upload has its own limits (5 per second) and its own counter', async () => {
    const results = await burst(t, 6, () => ({ method: 'POST', url: '/upload', remoteAddress: '10.1.0.2' }));
    // Anonymous uploads are refused (401) after being counted: the limiter runs before anything else.
    expect(results.slice(0, 5).map((r) => r.statusCode)).toEqual([401, 401, 401, 401, 401]);
    expect(results[0]!.headers['ratelimit-limit']).toBe('5');
    expectLimited(results[5]!, 5);
    // Other routes of the same client are in the default group.
    const me = await t.app.inject({ url: '/me', remoteAddress: '10.1.0.2' });
    expect(me.statusCode).toBe(401);
    expect(me.headers['ratelimit-limit']).toBe('15');
    expect((await t.app.inject('/metrics')).body).toMatch(/rate_limit_rejections_total\{group="upload"\} 1\b/);
  });

  it('TRUST_PROXY=1: the address the proxy saw counts; entries the client prepends do not', async () => {
    const results = await burst(t, 16, (i) => ({
      url: '/me',
      remoteAddress: '10.1.0.3', // the proxy
      headers: { 'x-forwarded-for': `198.51.100.${i}, 203.0.113.7` },
    }));
    expectLimited(results[15]!, 15);
    const other = await t.app.inject({ url: '/me', remoteAddress: '10.1.0.3', headers: { 'x-forwarded-for': '203.0.113.8' } });
    expect(other.statusCode).toBe(401);
  });
});

describe('rate limits in Shopify mode (Bearer session tokens)', () => {
  const apiKey = API_KEY;
  const apiSecret = API_SECRET;
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { ...DEFAULT_LIMITS, RL_ALLOWLIST: VIP, ...SHOPIFY_ENV } });
    for (const shop of ['one.myshopify.com', 'two.myshopify.com', VIP]) await insertInstalledShop(t, shop);
  });
  afterAll(() => t.close());

  const bearer = async (shop: string, secret = apiSecret) => ({
    authorization: `Bearer ${await hs256(shopifyClaims(shop, apiKey), secret)}`,
  });

  it('verified session tokens: shops behind one IP are independent, a fresh token per request changes nothing', async () => {
    const tokens = await Promise.all(Array.from({ length: 11 }, () => bearer('one.myshopify.com')));
    const results = await burst(t, 11, (i) => ({ url: '/me', remoteAddress: '10.2.0.1', headers: tokens[i]! }));
    expect(results[9]!.statusCode).toBe(200);
    expectLimited(results[10]!, 10);
    const two = await t.app.inject({ url: '/me', remoteAddress: '10.2.0.1', headers: await bearer('two.myshopify.com') });
    expect(two.statusCode).toBe(200);
    expect(two.headers['ratelimit-remaining']).toBe('9');
  });

  it('a session token for an allowlisted shop signed with another secret is limited; the real one is not', async () => {
    const forged = await bearer(VIP, 'another-secret-0123456789abcdef');
    expectLimited((await burst(t, 11, () => ({ url: '/me', remoteAddress: '10.2.0.2', headers: forged })))[10]!, 10);
    const real = await bearer(VIP);
    const results = await burst(t, 30, () => ({ url: '/me', remoteAddress: '10.2.0.3', headers: real }));
    expect(results.every((r) => r.statusCode === 200 && r.headers['ratelimit-limit'] === undefined)).toBe(true);
  });
});

describe.skipIf(!redisAvailable)('rate limits with Redis', () => {
  it('API instances sharing a Redis share the limit (the state is in Redis)', async () => {
    const env = { ...DEFAULT_LIMITS, REDIS_URL: REDIS_TEST_URL, RL_KEY_PREFIX: `rl-test:${randomUUID()}:` };
    const [a, b] = await Promise.all([createTestApp({ env }), createTestApp({ env })]);
    try {
      const first = await burst(a, 5, () => ({ url: '/me', remoteAddress: '10.3.0.1' }));
      const second = await burst(b, 6, () => ({ url: '/me', remoteAddress: '10.3.0.1' }));
      expect([...first, ...second].slice(0, 10).every((r) => r.statusCode === 401)).toBe(true);
      expect(second[4]!.headers['ratelimit-remaining']).toBe('0');
      expectLimited(second[5]!, 10);
      expect((await b.app.inject('/metrics')).body).toMatch(/rate_limiter_fallbacks_total 0\b/);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('Redis killed mid-test: the in-process limiter takes over, no 500, the fallback is counted', async () => {
    const server = await startRedisServer();
    const t = await createTestApp({ env: { ...DEFAULT_LIMITS, REDIS_URL: server.url } });
    try {
      const before = await burst(t, 3, () => ({ url: '/me', remoteAddress: '10.3.0.2' }));
      expect(before.map((r) => r.statusCode)).toEqual([401, 401, 401]);
      expect(before[2]!.headers['ratelimit-remaining']).toBe('7');
      expect((await t.app.inject('/metrics')).body).toMatch(/rate_limiter_fallbacks_total 0\b/);

      await server.kill();
      const after = await burst(t, 11, () => ({ url: '/me', remoteAddress: '10.3.0.2' }));
      expect(after.map((r) => r.statusCode).filter((s) => s >= 500)).toEqual([]);
      // The in-process limiter starts its own count: 10 pass, the 11th is refused.
      expect(after.slice(0, 10).every((r) => r.statusCode === 401)).toBe(true);
      expectLimited(after[10]!, 10);
      const metrics = (await t.app.inject('/metrics')).body;
      expect(Number(/rate_limiter_fallbacks_total (\d+)/.exec(metrics)![1])).toBe(11);
      expect((await t.app.inject('/health')).statusCode).toBe(200);
    } finally {
      await t.close();
      await server.kill();
    }
  });

  it('a Redis failure is logged (warn, with the error), at most once per cooldown', async () => {
    const server = await startRedisServer();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'rl-log-'));
    const lines: Array<{ level: number; msg: string; err?: { message: string } }> = [];
    const config = {
      ...loadConfig({ DATA_DIR: dataDir, ...DEFAULT_LIMITS, REDIS_URL: server.url }),
      database: { kind: 'pglite' as const },
    };
    const container = await createContainer(config, {
      loggerOptions: { level: 'warn', stream: { write: (line: string) => void lines.push(JSON.parse(line)) } },
    });
    const app = await buildApp(container);
    try {
      await app.inject({ url: '/me', remoteAddress: '10.3.0.3' });
      expect(lines.filter((l) => /rate limiter/i.test(l.msg))).toEqual([]);
      await server.kill();
      for (let i = 0; i < 5; i++) expect((await app.inject({ url: '/me', remoteAddress: '10.3.0.3' })).statusCode).toBe(401);
      const logged = lines.filter((l) => /rate limiter/i.test(l.msg));
      expect(logged).toHaveLength(1); // the next failures fall in the 1 s cooldown
      expect(logged[0]).toMatchObject({ level: 40, msg: 'Redis rate limiter failed; in-process limiter takes over' });
      expect(logged[0]!.err?.message).toBeTruthy();
    } finally {
      await app.close();
      await container.close();
      await server.kill();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('Redis down at start: the app starts, limits in-process, and uses Redis once it comes up', async () => {
    const port = await freePort();
    const t = await createTestApp({ env: { ...DEFAULT_LIMITS, REDIS_URL: `redis://127.0.0.1:${port}` } });
    const server = { current: undefined as Awaited<ReturnType<typeof startRedisServer>> | undefined };
    try {
      const res = await t.app.inject({ url: '/me', remoteAddress: '10.3.0.4' });
      expect(res.statusCode).toBe(401);
      expect(res.headers['ratelimit-remaining']).toBe('9');
      server.current = await startRedisServer(port);
      // ioredis reconnects by itself; after the cooldown the checks land in Redis.
      await waitFor(
        async () => {
          await t.app.inject({ url: '/me', remoteAddress: '10.3.0.5' });
          const probe = new Redis(server.current!.url);
          try {
            return (await probe.keys('rl:*')).length > 0;
          } finally {
            probe.disconnect();
          }
        },
        15_000,
        'rate-limit keys in Redis',
      );
    } finally {
      await t.close();
      await server.current?.kill();
    }
  });
});
