import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debit } from '../../src/modules/ledger/ledger.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { productShot, uploadForm } from '../helpers/images.js';
import { waitFor } from '../helpers/process.js';

describe('the sweeper and the credit metrics', () => {
  let t: TestApp;
  let cookie: string;
  const shop = 'sweep.myshopify.com';
  beforeAll(async () => {
    // 60x40 uploads pass; their 2x upscale (9 600 px) is over the limit and fails for good.
    t = await createTestApp({ jobs: true, env: { MAX_INPUT_PIXELS: '5000' } });
    ({ cookie } = await devLogin(t.app, shop));
  });
  afterAll(() => t.close());

  const status = async (id: string) =>
    ((await t.app.inject({ url: `/images/${id}`, headers: { cookie } })).json() as { status: string }).status;

  it('re-enqueues an image whose enqueue was lost, and it gets processed', async () => {
    const id = randomUUID();
    const key = `${shop}/upload/${id}.png`;
    await t.container.storage.put(key, await productShot(60, 40, 'png'), 'image/png');
    // What a crash between the upload's commit and its enqueue leaves with BullMQ: a queued image, no job.
    await t.container.db.transaction(async (tx) => {
      await debit(tx, { shop, reference: id }, 1);
      await tx.execute(sql`insert into images (id, shop, operation, status, filename, original_path, created_at, updated_at)
        values (${id}, ${shop}, 'downscale', 'queued', 'lost.png', ${key}, now() - interval '10 minutes', now() - interval '10 minutes')`);
    });
    const pass = await t.container.runMaintenance();
    expect(pass.requeued).toBe(1);
    await waitFor(async () => (await status(id)) === 'processed', 20_000, 'the swept image');
    expect((await t.container.runMaintenance()).requeued).toBe(0);
  });

  it('counts debits and refunds in /metrics; a permanent failure refunds once', async () => {
    const before = ((await t.app.inject({ url: '/credits/me', headers: { cookie } })).json() as { credits: number }).credits;
    const form = uploadForm(await productShot(60, 40), 'upscale');
    const res = await t.app.inject({ method: 'POST', url: '/upload', payload: form.payload, headers: { ...form.headers, cookie } });
    expect(res.statusCode).toBe(202);
    const id = (res.json() as { id: string }).id;
    await waitFor(async () => (await status(id)) === 'failed', 20_000, 'the failure');
    expect(((await t.app.inject({ url: '/credits/me', headers: { cookie } })).json() as { credits: number }).credits).toBe(before);
    const metrics = (await t.app.inject('/metrics')).body;
    expect(metrics).toMatch(/credits_total\{reason="debit"\} [1-9]/);
    expect(metrics).toMatch(/credits_total\{reason="refund"\} 1\b/);
    expect(metrics).toMatch(/jobs_total\{type="process-image:upscale",outcome="failed"\} 1\b/);
    expect(metrics).toMatch(/queue_jobs\{state="waiting"\} \d+/);
  });
});

describe('error reporting', () => {
  it('sends a 5xx to Sentry when SENTRY_DSN is set, without cookies', async () => {
    const envelopes: string[] = [];
    const sentry = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('latin1')));
      req.on('end', () => {
        envelopes.push(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => sentry.listen(0, '127.0.0.1', r));
    const port = (sentry.address() as AddressInfo).port;
    const t = await createTestApp({ env: { SENTRY_DSN: `http://publickey@127.0.0.1:${port}/1` } });
    try {
      const { cookie } = await devLogin(t.app, 'broken.myshopify.com');
      await t.container.db.execute(sql`alter table shop_credits rename to shop_credits_gone`);
      const res = await t.app.inject({ url: '/credits/me', headers: { cookie } });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toMatchObject({ error: 'Internal Server Error', code: 'INTERNAL' });
      expect(res.body).not.toContain('shop_credits');
      await waitFor(async () => envelopes.some((e) => e.includes('"type":"event"')), 10_000, 'the Sentry event');
      const event = envelopes.find((e) => e.includes('"type":"event"'))!;
      expect(event).toContain('shop_credits');
      expect(event).not.toContain(cookie.slice('session='.length));
    } finally {
      await t.close();
      sentry.close();
    }
  });
});
