import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createContainer } from '../../src/container.js';
import { buildApp } from '../../src/http/app.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { productShot, uploadForm } from '../helpers/images.js';
import { waitFor } from '../helpers/process.js';
import { collectStream } from '../helpers/stream.js';

describe('GET /images/events', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp({ jobs: true });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address() as { port: number };
    base = `http://127.0.0.1:${address.port}`;
  });
  afterAll(() => t.close());

  it("streams the caller's image status changes, and only the caller's", async () => {
    const { cookie } = await devLogin(t.app, 'live.myshopify.com');
    const { cookie: other } = await devLogin(t.app, 'other-live.myshopify.com');
    const res = await fetch(`${base}/images/events`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const stream = collectStream(res);

    const theirs = await t.app.inject({ method: 'POST', url: '/upload', ...withCookie(uploadForm(await productShot(), 'upscale'), other) });
    const mine = await t.app.inject({ method: 'POST', url: '/upload', ...withCookie(uploadForm(await productShot(), 'upscale'), cookie) });
    const id = (mine.json() as { id: string }).id;
    const theirId = (theirs.json() as { id: string }).id;

    await waitFor(async () => stream.text().includes('"status":"processed"'), 15_000, 'the processed event');
    const events = stream
      .text()
      .split('\n\n')
      .filter((block) => block.startsWith('event: image'))
      .map((block) => JSON.parse(block.split('\ndata: ')[1]!) as { id: string; status: string });
    expect(events.map((e) => e.status)).toContain('processing');
    expect(events.every((e) => e.id === id)).toBe(true);
    expect(stream.text()).not.toContain(theirId);
    await stream.cancel();
  });

  it('refuses an anonymous stream with 401', async () => {
    const res = await fetch(`${base}/images/events`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
  });
});

function withCookie(form: { payload: Buffer; headers: Record<string, string> }, cookie: string) {
  return { payload: form.payload, headers: { ...form.headers, cookie } };
}

describe('embedded queue across a restart', () => {
  it('processes after the restart an image uploaded before it', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'restart-'));
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    try {
      // First life: the upload is accepted, but the process stops before any job runs.
      const first = await createContainer(config, { loggerOptions: false });
      const app1 = await buildApp(first);
      const { cookie } = await devLogin(app1, 'restart.myshopify.com');
      const res = await app1.inject({ method: 'POST', url: '/upload', ...withCookie(uploadForm(await productShot(), 'upscale'), cookie) });
      expect(res.statusCode).toBe(202);
      const id = (res.json() as { id: string }).id;
      await app1.close();
      await first.close();

      // Second life: the job is still there and runs.
      const second = await createContainer(config, { loggerOptions: false });
      const app2 = await buildApp(second);
      await second.startBackgroundWork();
      const image = await waitFor(async () => {
        const r = (await app2.inject({ url: `/images/${id}`, headers: { cookie } })).json() as { status: string };
        return r.status === 'processed' ? r : undefined;
      }, 20_000, 'the image to be processed after the restart');
      expect(image.status).toBe('processed');
      await app2.close();
      await second.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
