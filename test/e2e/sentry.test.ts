import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import * as Sentry from '@sentry/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, devLogin } from '../helpers/app.js';
import { productShot, uploadForm } from '../helpers/images.js';
import { waitFor } from '../helpers/process.js';

/**
 * Sentry with the real @sentry/node transport, sending to a fake DSN endpoint
 * on loopback: the envelopes it receives are what Sentry would store.
 */

interface SentryEvent {
  tags?: Record<string, string>;
  extra?: Record<string, unknown>;
  request?: { headers?: Record<string, string>; cookies?: unknown; url?: string; query_string?: unknown; data?: unknown };
  exception?: { values?: Array<{ value?: string }> };
}

function eventsOf(envelopes: string[]): SentryEvent[] {
  const events: SentryEvent[] = [];
  for (const envelope of envelopes) {
    const lines = envelope.split('\n');
    lines.forEach((line, i) => {
      if (line.includes('"type":"event"')) events.push(JSON.parse(lines[i + 1]!) as SentryEvent);
    });
  }
  return events;
}

// Sentry's start-up and the app's are slow on a loaded machine.
describe('Sentry', { timeout: 120_000 }, () => {
  const envelopes: string[] = [];
  let dsn: string;
  const sentry = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      envelopes.push((req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => sentry.listen(0, '127.0.0.1', r));
    dsn = `http://publickey@127.0.0.1:${(sentry.address() as AddressInfo).port}/1`;
  });
  afterAll(() => new Promise<void>((r) => sentry.close(() => r())));

  it('is not initialised without SENTRY_DSN', async () => {
    const t = await createTestApp();
    try {
      expect(Sentry.getClient()).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('a 5xx carries its request id; cookies, Authorization, Shopify headers and credential query values are not sent', async () => {
    // Made at run time: Sentry sends source lines around each frame, and those of this file must not match.
    const secret = () => randomBytes(12).toString('hex');
    const secrets = { bearer: secret(), cookie: secret(), shopify: `shpat_${secret()}`, query: secret() };
    const t = await createTestApp({
      env: { SENTRY_DSN: dsn },
      extend: (app) =>
        app.get('/test/boom', async () => {
          throw new Error('the database went away');
        }),
    });
    try {
      expect(Sentry.getClient()).toBeDefined();
      const res = await t.app.inject({
        url: `/test/boom?token=${secrets.query}&code=${secrets.query}&page=2`,
        headers: {
          authorization: `Bearer ${secrets.bearer}`,
          cookie: `session=${secrets.cookie}; shop=x`,
          'x-shopify-access-token': secrets.shopify,
          'x-request-id': 'req-boom-1',
        },
      });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toMatchObject({ code: 'INTERNAL', requestId: 'req-boom-1' });
      const event = await waitFor(
        async () => eventsOf(envelopes).find((e) => e.tags?.request_id === 'req-boom-1'),
        15_000,
        'the Sentry event',
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}; received: ${JSON.stringify(eventsOf(envelopes).map((e) => ({ tags: e.tags, extra: e.extra, request: e.request })))}`);
      });
      expect(event.exception?.values?.[0]?.value).toBe('the database went away');
      expect(event.tags?.route).toBe('/test/boom');
      const sent = envelopes.join('\n');
      for (const secret of Object.values(secrets)) expect(sent).not.toContain(secret);
    } finally {
      await t.close();
    }
  });

  it('a job failure carries its job id', async () => {
    const t = await createTestApp({ env: { SENTRY_DSN: dsn } });
    try {
      const { cookie } = await devLogin(t.app, 'sentry-jobs.myshopify.com');
      const form = uploadForm(await productShot(60, 40), 'downscale');
      const res = await t.app.inject({ method: 'POST', url: '/upload', payload: form.payload, headers: { ...form.headers, cookie } });
      expect(res.statusCode).toBe(202);
      const id = (res.json() as { id: string }).id;
      // The original is gone before the job runs: the job throws (and will be retried).
      const image = (await t.app.inject({ url: `/images/${id}`, headers: { cookie } })).json() as { original_path: string };
      await t.container.storage.delete(image.original_path);
      await t.container.startBackgroundWork();
      const event = await waitFor(async () => eventsOf(envelopes).find((e) => e.tags?.job_id === id), 20_000, 'the job event');
      expect(event.tags?.job_type).toBe('process-image');
      expect(JSON.stringify(event)).not.toContain(cookie.slice('session='.length));
    } finally {
      await t.close();
    }
  });
});
