import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/process.js';

/** Under event-loop pressure requests get 503 UNDER_PRESSURE with Retry-After; /health still answers. */
describe('load shedding (@fastify/under-pressure)', () => {
  let t: TestApp;
  let cookie: string;
  beforeAll(async () => {
    t = await createTestApp({ env: { PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '1' } });
    ({ cookie } = await devLogin(t.app, 'pressure.myshopify.com'));
  });
  afterAll(() => t.close());

  const block = (ms: number) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // a CPU-bound stretch on the event loop
    }
  };

  it('answers 503 with Retry-After while the event loop lags, and /health 200', async () => {
    const res = await waitFor(async () => {
      // Lag inside one sample window: a blocked stretch, then the sample is taken right after it.
      await new Promise((r) => setTimeout(r, 200));
      block(240);
      const answer = await t.app.inject({ url: '/me', headers: { cookie } });
      return answer.statusCode === 503 ? answer : undefined;
    }, 10_000, 'a 503 under pressure');
    expect(res.headers['retry-after']).toBe('5');
    expect(res.json()).toMatchObject({ code: 'UNDER_PRESSURE' });
    block(300);
    await new Promise((r) => setTimeout(r, 260));
    expect((await t.app.inject({ url: '/health' })).statusCode).toBe(200);
  });
});
