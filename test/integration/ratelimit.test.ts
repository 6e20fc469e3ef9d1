import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFallbackLimiter } from '../../src/adapters/ratelimit/fallback.js';
import type { RateLimiter, RateLimitRules } from '../../src/adapters/ratelimit/limiter.js';
import { createMemoryLimiter } from '../../src/adapters/ratelimit/memory.js';
import { createRedisLimiter } from '../../src/adapters/ratelimit/redis.js';
import { loadConfig } from '../../src/config/load.js';
import { ipIdentity } from '../../src/lib/client-ip.js';
import { rateLimitGroup } from '../../src/http/plugins/rate-limit.js';
import { waitFor } from '../helpers/process.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { REDIS_TEST_URL, redisAvailable } from '../helpers/services.js';

const DEFAULTS = loadConfig({ DATA_DIR: '/tmp/unused-rl-config', RL_ALLOWLIST: '' }).rateLimit;
const rules = (burst: number, sustained: number, burstWindowS = 1, sustainedWindowS = 60): RateLimitRules => ({
  burst,
  burstWindowS,
  sustained,
  sustainedWindowS,
});

async function run(limiter: RateLimiter, key: string, r: RateLimitRules, n: number) {
  const results = [];
  for (let i = 0; i < n; i++) results.push(await limiter.check(key, r));
  return results;
}

/** Shared expectations for both adapters. */
function sharedSuite(name: string, make: () => { limiter: RateLimiter; prefix: string }) {
  describe(`${name}: shared semantics`, () => {
    it('burst: 10 within a second pass with a falling Remaining, the 11th is refused with Retry-After', async () => {
      const { limiter } = make();
      const results = await run(limiter, 'k', DEFAULTS.default, 11);
      expect(results.slice(0, 10).every((r) => r.allowed)).toBe(true);
      expect(results.slice(0, 10).map((r) => r.remaining)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
      expect(results[0]).toMatchObject({ limit: 10, resetS: 1, retryAfterS: 0 });
      expect(results[10]).toMatchObject({ allowed: false, limit: 10, remaining: 0, retryAfterS: 1, resetS: 1 });
    });

    it('/upload rules: 5 within a second, the 6th refused', async () => {
      const { limiter } = make();
      const results = await run(limiter, 'u', DEFAULTS.upload, 6);
      expect(results.map((r) => r.allowed)).toEqual([true, true, true, true, true, false]);
      expect(results[0]!.limit).toBe(5);
    });

    it('sustained: with a small sustained limit, the window with the least room is reported and binds', async () => {
      const { limiter } = make();
      const results = await run(limiter, 's', rules(10, 3), 4);
      expect(results.map((r) => [r.allowed, r.limit, r.remaining])).toEqual([
        [true, 3, 2],
        [true, 3, 1],
        [true, 3, 0],
        [false, 3, 0],
      ]);
      expect(results[3]!.retryAfterS).toBeGreaterThan(55);
      expect(results[3]!.retryAfterS).toBeLessThanOrEqual(60);
    });

    it('keys are independent', async () => {
      const { limiter } = make();
      await run(limiter, 'a', rules(2, 10), 3);
      expect((await limiter.check('a', rules(2, 10))).allowed).toBe(false);
      expect((await limiter.check('b', rules(2, 10))).allowed).toBe(true);
    });

    it('a refused request is not recorded: hammering while blocked does not extend the block', async () => {
      const { limiter } = make();
      const r = rules(2, 100);
      const start = Date.now();
      await run(limiter, 'h', r, 2);
      // Hammer for half the window.
      while (Date.now() - start < 500) expect((await limiter.check('h', r)).allowed).toBe(false);
      await waitFor(async () => (await limiter.check('h', r)).allowed, 3000, 'room in the burst window');
      // Room came back when the accepted requests left the 1 s window, not 1 s after the last refusal.
      expect(Date.now() - start).toBeLessThan(1400);
    });

    it('is atomic under concurrency: 50 parallel checks with limit 10 let exactly 10 through', async () => {
      const { limiter } = make();
      const results = await Promise.all(Array.from({ length: 50 }, () => limiter.check('c', rules(10, 60))));
      expect(results.filter((r) => r.allowed)).toHaveLength(10);
      expect(results.filter((r) => r.allowed).map((r) => r.remaining).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
  });
}

sharedSuite('in-process limiter', () => ({ limiter: createMemoryLimiter(), prefix: '' }));

describe('in-process limiter with a hand-moved clock', () => {
  it('defaults: 10 per second for 6 seconds pass, the 61st within the minute is refused until the first leaves', async () => {
    let now = 1_000_000;
    const limiter = createMemoryLimiter({ now: () => now });
    const start = now;
    for (let second = 0; second < 6; second++) {
      const results = await run(limiter, 'k', DEFAULTS.default, 11);
      expect(results.map((r) => r.allowed).filter(Boolean)).toHaveLength(10);
      expect(results[10]!.allowed).toBe(false);
      now += 1000;
    }
    const refused = await limiter.check('k', DEFAULTS.default);
    expect(refused).toMatchObject({ allowed: false, limit: 60, remaining: 0 });
    expect(refused.retryAfterS).toBe(54); // the first ten were accepted at `start`; now = start + 6 s
    now = start + 60_000 - 1;
    expect((await limiter.check('k', DEFAULTS.default)).allowed).toBe(false);
    now = start + 60_000;
    expect(await limiter.check('k', DEFAULTS.default)).toMatchObject({ allowed: true, limit: 10, remaining: 9 });
  });

  it('evicts keys idle longer than their longest window', async () => {
    let now = 0;
    const limiter = createMemoryLimiter({ now: () => now });
    for (let i = 0; i < 100; i++) await limiter.check(`ip:${i}`, rules(10, 60, 1, 60));
    expect(limiter.size()).toBe(100);
    now += 30_000;
    await limiter.check('fresh', rules(10, 60, 1, 60));
    expect(limiter.size()).toBe(101);
    now += 61_000;
    await limiter.check('fresh', rules(10, 60, 1, 60));
    expect(limiter.size()).toBe(1);
  });

  it('keeps at most maxKeys keys (the least recently used go first)', async () => {
    const limiter = createMemoryLimiter({ maxKeys: 50 });
    await limiter.check('kept', rules(1, 10));
    for (let i = 0; i < 200; i++) {
      await limiter.check(`ip:${i}`, rules(1, 10));
      if (i % 10 === 0) await limiter.check('kept', rules(1, 10)); // recently used: stays
    }
    expect(limiter.size()).toBe(50);
    expect((await limiter.check('kept', rules(1, 10))).allowed).toBe(false);
  });
});

describe('route groups and identity helpers', () => {
  it.each([
    ['GET', '/health', null],
    ['GET', '/ready', null],
    ['GET', '/metrics', null],
    ['GET', '/docs', null],
    ['GET', '/docs/*', null],
    ['GET', '/docs/static/*', null],
    ['OPTIONS', '/me', null],
    ['OPTIONS', '*', null],
    ['POST', '/upload', 'upload'],
    ['GET', '/me', 'default'],
    ['GET', '/openapi.json', 'default'],
    ['GET', '/healthz', 'default'],
    ['GET', undefined, 'default'],
  ])('%s %s -> %s', (method, url, group) => {
    expect(rateLimitGroup(method, url)).toBe(group);
  });

  it.each([
    ['1.2.3.4', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::ffff', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:aaaa::', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['not an ip', 'unknown'],
    [undefined, 'unknown'],
  ])('ipIdentity(%s) = %s', (ip, id) => {
    expect(ipIdentity(ip)).toBe(id);
  });
});

describe.skipIf(!redisAvailable)('Redis limiter (machine Redis)', () => {
  let redis: Redis;
  const clients: Redis[] = [];
  beforeAll(() => {
    redis = new Redis(REDIS_TEST_URL);
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await redis.quit();
  });
  const fresh = () => {
    const prefix = `rl-test:${randomUUID()}:`;
    return { limiter: createRedisLimiter(redis, { prefix }), prefix };
  };

  sharedSuite('Redis limiter', fresh);

  it('atomic across 5 connections: 50 parallel checks with limit 10 -> exactly 10', async () => {
    const prefix = `rl-test:${randomUUID()}:`;
    const limiters = Array.from({ length: 5 }, () => {
      const c = new Redis(REDIS_TEST_URL);
      clients.push(c);
      return createRedisLimiter(c, { prefix });
    });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => limiters[i % 5]!.check('k', rules(10, 60))));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    expect(await redis.zcard(`${prefix}{k}:b`)).toBe(10);
  });

  it('defaults: the 61st request within a minute is refused (6 bursts of 10)', async () => {
    const { limiter, prefix } = fresh();
    for (let burst = 0; burst < 6; burst++) {
      const results = await run(limiter, 'k', DEFAULTS.default, 11);
      expect(results.filter((r) => r.allowed)).toHaveLength(10);
      // The 11th is refused by the burst window (and, in the last second, by the sustained one too,
      // whose longer wait is then the one reported).
      expect(results[10]).toMatchObject({ allowed: false, limit: burst < 5 ? 10 : 60 });
      // The burst key expires (PEXPIRE = window) once its entries have left the 1 s window.
      await waitFor(async () => (await redis.exists(`${prefix}{k}:b`)) === 0, 5000, 'burst window to clear');
    }
    const refused = await limiter.check('k', DEFAULTS.default);
    expect(refused).toMatchObject({ allowed: false, limit: 60, remaining: 0 });
    expect(refused.retryAfterS).toBeGreaterThan(45);
    expect(await redis.zcard(`${prefix}{k}:s`)).toBe(60);
  }, 20_000);

  it('keys carry a TTL no longer than their window', async () => {
    const { limiter, prefix } = fresh();
    await limiter.check('t', rules(10, 60, 1, 60));
    const burstTtl = await redis.pttl(`${prefix}{t}:b`);
    const sustainedTtl = await redis.pttl(`${prefix}{t}:s`);
    expect(burstTtl).toBeGreaterThan(0);
    expect(burstTtl).toBeLessThanOrEqual(1000);
    expect(sustainedTtl).toBeGreaterThan(50_000);
    expect(sustainedTtl).toBeLessThanOrEqual(60_000);
  });

  it('one round trip per check: a single EVALSHA (script commands run inside it)', async () => {
    const { limiter, prefix } = fresh();
    await limiter.check('warm', rules(10, 60)); // loads the script (EVALSHA, or EVAL after NOSCRIPT)
    const monitor = await redis.monitor();
    const seen: Array<{ args: string[]; source: string }> = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (args.some((a) => a.includes(prefix))) seen.push({ args, source });
    });
    try {
      for (let i = 0; i < 3; i++) await limiter.check('one', rules(10, 60));
      await waitFor(async () => seen.filter((s) => !s.source.includes('lua')).length >= 3 || undefined, 3000, 'monitor');
      const fromClient = seen.filter((s) => !s.source.includes('lua'));
      expect(fromClient.map((s) => s.args[0]!.toLowerCase())).toEqual(['evalsha', 'evalsha', 'evalsha']);
    } finally {
      monitor.disconnect();
    }
  });

  it('with a refused check the script records nothing', async () => {
    const { limiter, prefix } = fresh();
    await run(limiter, 'r', rules(3, 60), 10);
    expect(await redis.zcard(`${prefix}{r}:b`)).toBe(3);
    expect(await redis.zcard(`${prefix}{r}:s`)).toBe(3);
  });
});

describe.skipIf(!redisAvailable)('fallback to the in-process limiter (a second, killable redis-server)', () => {
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  async function setup() {
    const server = await startRedisServer();
    closers.push(() => server.kill());
    const client = new Redis(server.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 150,
      lazyConnect: true,
    });
    client.on('error', () => {});
    await client.connect();
    closers.unshift(async () => client.disconnect());
    const limiter = createFallbackLimiter(createRedisLimiter(client, { prefix: 'rl:' }), createMemoryLimiter(), { cooldownMs: 200 });
    return { server, client, limiter };
  }

  it('answers from Redis while it is up, from memory once it is killed', async () => {
    const { server, client, limiter } = await setup();
    const first = await limiter.check('k', rules(3, 60));
    expect(first.allowed).toBe(true);
    expect(first.fallback).toBeUndefined();
    expect(await client.zcard('rl:{k}:b')).toBe(1);

    await server.kill();
    const results = await run(limiter, 'k', rules(3, 60), 4);
    expect(results.every((r) => r.fallback)).toBe(true);
    expect(results[0]!.fallback!.error).toBeInstanceOf(Error);
    // The in-process limiter still limits (its own count: 3 pass, the 4th is refused).
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
  });

  it('a Redis that hangs times out quickly and the in-process limiter answers', async () => {
    const { server, limiter } = await setup();
    await limiter.check('k', rules(3, 60));
    server.child.kill('SIGSTOP');
    closers.unshift(async () => server.child.kill('SIGCONT'));
    const start = Date.now();
    const result = await limiter.check('k', rules(3, 60));
    expect(Date.now() - start).toBeLessThan(1000);
    expect(result.allowed).toBe(true);
    expect(String((result.fallback?.error as Error).message)).toMatch(/timed out/i);
    // During the cooldown the dead primary is not even asked: no further timeouts.
    const t2 = Date.now();
    const second = await limiter.check('k', rules(3, 60));
    expect(Date.now() - t2).toBeLessThan(50);
    expect(second.fallback).toEqual({});

    // Redis back: after the cooldown the primary answers again.
    server.child.kill('SIGCONT');
    const back = await waitFor(async () => {
      const r = await limiter.check('k2', rules(3, 60));
      return r.fallback ? undefined : r;
    }, 5000, 'Redis to answer again');
    expect(back.allowed).toBe(true);
  });
});
