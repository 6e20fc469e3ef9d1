import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/process.js';
import { createShopifyTestApp } from '../helpers/shopify.js';
import type { FakeShopify } from '../fakes/shopify.js';
import { collectStream } from '../helpers/stream.js';

/** GET /images/events is bounded: per shop, in total, in time, and by the install it was opened under. */

async function listen(t: TestApp): Promise<string> {
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
}

describe('event stream caps and lifetime', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp({ env: { EVENTS_MAX_STREAMS_PER_SHOP: '2', EVENTS_MAX_STREAMS: '3', EVENTS_MAX_LIFETIME_S: '5' } });
    base = await listen(t);
  });
  afterAll(() => t.close());

  const open = async (cookie: string) => {
    const res = await fetch(`${base}/images/events`, { headers: { cookie } });
    if (res.status !== 200) return { res, stream: null };
    const stream = collectStream(res);
    await waitFor(async () => stream.text().includes(': connected'), 5000, 'the stream');
    return { res, stream };
  };

  it('caps streams per shop (429) and in total (503), with Retry-After; a closed stream frees its place', async () => {
    const { cookie: a } = await devLogin(t.app, 'streams-a.myshopify.com');
    const { cookie: b } = await devLogin(t.app, 'streams-b.myshopify.com');
    const first = await open(a);
    const second = await open(a);
    const third = await open(a);
    expect(third.res.status).toBe(429);
    expect(third.res.headers.get('retry-after')).toBe('5');
    expect(((await third.res.json()) as { code: string }).code).toBe('TOO_MANY_STREAMS');

    const otherShop = await open(b);
    expect(otherShop.res.status).toBe(200);
    const overTotal = await open(b);
    expect(overTotal.res.status).toBe(503);
    expect(overTotal.res.headers.get('retry-after')).toBe('5');
    expect(((await overTotal.res.json()) as { code: string }).code).toBe('BUSY');

    await first.stream!.cancel();
    const again = await waitFor(async () => {
      const attempt = await open(a);
      if (attempt.res.status === 200) return attempt;
      await attempt.res.body?.cancel();
      return undefined;
    }, 5000, 'a place for shop A');
    for (const s of [second, otherShop, again]) await s.stream!.cancel();
  });

  it('sends a retry: hint and ends the stream after EVENTS_MAX_LIFETIME_S', async () => {
    const { cookie } = await devLogin(t.app, 'streams-life.myshopify.com');
    const started = Date.now();
    const { stream } = await open(cookie);
    expect(stream!.text()).toMatch(/^retry: \d+\n/);
    await waitFor(async () => stream!.ended(), 10_000, 'the server to end the stream');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(4500);
    expect(took).toBeLessThan(8000);
  });
});

describe("a shop's streams on uninstall", () => {
  let t: TestApp;
  let fake: FakeShopify;
  let close: () => Promise<void>;
  let base: string;
  beforeAll(async () => {
    ({ t, fake, close } = await createShopifyTestApp());
    base = await listen(t);
  });
  afterAll(() => close());

  it('app/uninstalled ends every open stream of that shop, and only of that shop', async () => {
    const shop = 'leaving.myshopify.com';
    const stay = 'staying.myshopify.com';
    const streams: Array<ReturnType<typeof collectStream>> = [];
    for (const s of [shop, shop, stay]) {
      const res = await fetch(`${base}/images/events`, { headers: { authorization: `Bearer ${await fake.signSessionToken(s)}` } });
      expect(res.status).toBe(200);
      const stream = collectStream(res);
      await waitFor(async () => stream.text().includes(': connected'), 5000, 'the stream');
      streams.push(stream);
    }
    const body = JSON.stringify({ id: 1, name: 'Shop', domain: shop, myshopify_domain: shop });
    const res = await t.app.inject({ method: 'POST', url: '/webhooks/uninstall', headers: fake.webhookHeaders(shop, 'app/uninstalled', body), payload: body });
    expect(res.statusCode).toBe(200);
    await waitFor(async () => streams[0]!.ended() && streams[1]!.ended(), 5000, "the uninstalled shop's streams to end");
    expect(streams[2]!.ended()).toBe(false);
    await streams[2]!.cancel();
  });
});
