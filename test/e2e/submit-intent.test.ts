import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/adapters/db/client.js';
import { getImage, markProcessing, recordSubmitIntent } from '../../src/modules/images/images.js';
import { balanceOf } from '../../src/modules/ledger/ledger.js';
import { type FakeMakeIt3D, startFakeMakeIt3D } from '../fakes/makeit3d.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { DB_KINDS } from '../helpers/db.js';
import { productShot, uploadForm } from '../helpers/images.js';
import { freePort } from '../helpers/net.js';
import { waitFor } from '../helpers/process.js';

/**
 * A worker that died while its MakeIt3D submit was in flight left an intent
 * and no task id: the next run fails and refunds the image instead of
 * submitting (and paying for) a second task.
 */
describe.each(DB_KINDS)('a crash during a provider submit on %s', (db) => {
  let fake: FakeMakeIt3D;
  let t: TestApp;
  let cookie: string;
  const shop = 'crashy.myshopify.com';

  beforeAll(async () => {
    fake = await startFakeMakeIt3D({ completeAfterMs: 20 });
    const port = await freePort();
    t = await createTestApp({
      db,
      env: { MAKEIT3D_API_KEY: fake.apiKey, MAKEIT3D_BASE_URL: fake.url, BACKEND_URL: `http://127.0.0.1:${port}` },
    });
    await t.app.listen({ port, host: '127.0.0.1' });
    ({ cookie } = await devLogin(t.app, shop));
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  const upload = async () => {
    const form = uploadForm(await productShot(), 'upscale');
    const res = await t.app.inject({ method: 'POST', url: '/upload', payload: form.payload, headers: { ...form.headers, cookie } });
    expect(res.statusCode).toBe(202);
    return (res.json() as { id: string }).id;
  };
  const ended = (id: string) =>
    waitFor(async () => {
      const row = await getImage(t.container.db, id);
      return row?.status === 'failed' || row?.status === 'processed' ? row : undefined;
    }, 20_000, 'the image to end');

  it('the restart fails the image with one refund and submits nothing', async () => {
    const before = await balanceOf(t.container.db, shop);
    const crashed = await upload();
    // What the dead worker had done: taken the image and recorded its submit, then died before the answer.
    await markProcessing(t.container.db, crashed);
    await recordSubmitIntent(t.container.db, crashed);
    const submitsBefore = fake.stats.submitRequests;

    await t.container.startBackgroundWork();
    const image = await ended(crashed);
    expect(image.status).toBe('failed');
    expect(image.providerTaskId).toBeNull();
    expect(fake.stats.submitRequests).toBe(submitsBefore);
    expect(await balanceOf(t.container.db, shop)).toBe(before);
    const [refunds] = await queryRows<{ n: number }>(
      t.container.db,
      sql`select count(*)::int as n from credit_transactions where reference = ${crashed} and reason = 'refund'`,
    );
    expect(refunds!.n).toBe(1);
  });

  it('a normal run records the intent, submits once and clears nothing it needs', async () => {
    const id = await upload();
    const image = await ended(id);
    expect(image.status).toBe('processed');
    expect(image.providerSubmitStartedAt).toBeInstanceOf(Date);
    expect(fake.stats.tasksByClientId.get(`upscale-${id}`)).toBe(1);
  });
});
