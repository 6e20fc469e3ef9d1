import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createTestApp, devLogin } from '../helpers/app.js';
import { productShot, uploadForm } from '../helpers/images.js';
import { REDIS_TEST_URL, redisAvailable } from '../helpers/services.js';

describe.runIf(redisAvailable)("the test suite's BullMQ keys", () => {
  it('a test app on Redis uses a prefix of its own and leaves no key behind', async () => {
    const t = await createTestApp({ env: { REDIS_URL: REDIS_TEST_URL } });
    const prefix = t.config.queuePrefix;
    expect(prefix).not.toBe('bull');
    const { cookie } = await devLogin(t.app, 'hygiene.myshopify.com');
    const form = uploadForm(await productShot(), 'upscale');
    const res = await t.app.inject({ method: 'POST', url: '/upload', payload: form.payload, headers: { ...form.headers, cookie } });
    expect(res.statusCode).toBe(202);
    const redis = new Redis(REDIS_TEST_URL);
    try {
      expect((await redis.keys(`${prefix}:*`)).length).toBeGreaterThan(0);
      await t.close();
      expect(await redis.keys(`${prefix}:*`)).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });
});
