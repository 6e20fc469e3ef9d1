import { getHeapStatistics } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/process.js';

const block = (ms: number) => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // a CPU-bound stretch on the event loop
  }
};

/** Under real pressure requests get 503 UNDER_PRESSURE with Retry-After; /health still answers. */
describe('load shedding (@fastify/under-pressure) with its defaults', () => {
  let t: TestApp;
  let cookie: string;
  beforeAll(async () => {
    t = await createTestApp({ loadShedding: true });
    ({ cookie } = await devLogin(t.app, 'pressure.myshopify.com'));
  });
  afterAll(() => t.close());

  it('is on by default: an event loop stalled over a second, a heap at 98% of V8 limit', () => {
    expect(t.config.pressure).toEqual({
      maxEventLoopDelayMs: 1000,
      maxHeapUsedBytes: Math.floor(0.98 * getHeapStatistics().heap_size_limit),
    });
  });

  const normalLoad = () => Promise.all(Array.from({ length: 100 }, () => t.app.inject({ url: '/me', headers: { cookie } })));

  it('sheds none of the first requests: the stall of start-up (compiling schemas) is not load', async () => {
    const answers = await normalLoad();
    expect(answers.map((a) => a.statusCode)).toEqual(answers.map(() => 200));
  });

  it('answers 503 with Retry-After after the event loop was blocked for 1.5 s, and /health 200', async () => {
    const [res, health] = await waitFor(async () => {
      block(1500);
      // Let the sampler's overdue timer run first: it measures the stall just ended.
      await new Promise((r) => setTimeout(r, 0));
      const answers = await Promise.all([t.app.inject({ url: '/me', headers: { cookie } }), t.app.inject({ url: '/health' })]);
      return answers[0].statusCode === 503 ? answers : undefined;
    }, 15_000, 'a 503 under pressure');
    expect(health.statusCode).toBe(200);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.json()).toMatchObject({ code: 'UNDER_PRESSURE' });
    // The next samples see a free loop again.
    await waitFor(async () => (await t.app.inject({ url: '/me', headers: { cookie } })).statusCode === 200, 5_000, 'the pressure to pass');
  });

  it('then, shedding being live, sheds nothing under normal load', async () => {
    const answers = await normalLoad();
    expect(answers.map((a) => a.statusCode)).toEqual(answers.map(() => 200));
  });
});

describe('load shedding on the heap', () => {
  it('answers 503 while the heap holds more than PRESSURE_MAX_HEAP_MB; /health still 200', async () => {
    const t = await createTestApp({ loadShedding: true, env: { PRESSURE_MAX_HEAP_MB: '1' } });
    try {
      expect(t.config.pressure.maxHeapUsedBytes).toBe(1024 * 1024);
      const res = await waitFor(async () => {
        const answer = await t.app.inject({ url: '/me' });
        return answer.statusCode === 503 ? answer : undefined;
      }, 5_000, 'a 503 on heap pressure');
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json()).toMatchObject({ code: 'UNDER_PRESSURE' });
      expect((await t.app.inject({ url: '/health' })).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });
});
