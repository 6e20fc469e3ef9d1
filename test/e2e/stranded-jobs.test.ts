import { randomUUID } from 'node:crypto';
import { UnrecoverableError, Worker } from 'bullmq';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/adapters/db/client.js';
import { GAVE_UP_MESSAGE } from '../../src/jobs/process-image.js';
import { getImage, markProcessing } from '../../src/modules/images/images.js';
import { balanceOf } from '../../src/modules/ledger/ledger.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { productShot, uploadForm } from '../helpers/images.js';
import { waitFor } from '../helpers/process.js';
import { deleteRedisKeys } from '../helpers/redis-keys.js';
import { REDIS_TEST_URL, redisAvailable } from '../helpers/services.js';

/**
 * Every way a job can end in BullMQ ends its image. A worker that dies on a job
 * (simulated: a BullMQ worker takes it and never renews its lock) leaves it
 * stalled; past QUEUE_MAX_STALLED BullMQ fails it without running our handler.
 */
describe.skipIf(!redisAvailable)('images whose BullMQ job ended without our handler (real Redis)', () => {
  const prefix = `test-stranded-${randomUUID()}`;
  const apps: TestApp[] = [];
  afterAll(async () => {
    for (const t of apps) await t.close();
    await deleteRedisKeys(REDIS_TEST_URL, `${prefix}*`);
  });

  async function start(maxStalled: string) {
    const t = await createTestApp({
      env: { REDIS_URL: REDIS_TEST_URL, QUEUE_PREFIX: `${prefix}-${apps.length}`, QUEUE_LOCK_MS: '1000', QUEUE_MAX_STALLED: maxStalled },
    });
    apps.push(t);
    const shop = `stranded${apps.length}.myshopify.com`;
    const { cookie } = await devLogin(t.app, shop);
    const form = uploadForm(await productShot(), 'upscale');
    const res = await t.app.inject({ method: 'POST', url: '/upload', payload: form.payload, headers: { ...form.headers, cookie } });
    expect(res.statusCode).toBe(202);
    const id = (res.json() as { id: string }).id;
    return { t, shop, id, queuePrefix: `${prefix}-${apps.length - 1}` };
  }

  /** A worker that takes the job, marks the image processing as our handler would, and dies without renewing its lock. */
  async function dieOn(queuePrefix: string, id: string, t: TestApp, opts: { failItFirst?: boolean } = {}) {
    const dying = new Worker('jobs', null, {
      prefix: queuePrefix,
      connection: { host: new URL(REDIS_TEST_URL).hostname, port: Number(new URL(REDIS_TEST_URL).port || 6379) },
      lockDuration: 1000,
    });
    const token = randomUUID();
    const job = await dying.getNextJob(token);
    expect(job?.id).toBe(id);
    await markProcessing(t.container.db, id);
    // The job ends failed in BullMQ with no worker of ours to see it (a lost 'failed' event).
    if (opts.failItFirst) await job!.moveToFailed(new UnrecoverableError('worker lost'), token, false);
    await dying.close(true);
  }

  const refunds = async (t: TestApp, id: string) =>
    (await queryRows<{ n: number }>(t.container.db, sql`select count(*)::int as n from credit_transactions where reference = ${id} and delta > 0`))[0]!.n;

  it('a job BullMQ fails after too many stalls fails its image with one refund', async () => {
    const { t, shop, id, queuePrefix } = await start('0');
    const before = await balanceOf(t.container.db, shop);
    await dieOn(queuePrefix, id, t);
    // Our worker starts; its stalled check finds the lock gone and BullMQ fails the job.
    await t.container.startBackgroundWork();
    const image = await waitFor(async () => {
      const row = await getImage(t.container.db, id);
      return row?.status === 'failed' ? row : undefined;
    }, 15_000, 'the stranded image to fail');
    expect(image.errorMessage).toBe(GAVE_UP_MESSAGE);
    expect(await t.container.queue.state(id)).toBe('failed');
    expect(await balanceOf(t.container.db, shop)).toBe(before + 1);
    expect(await refunds(t, id)).toBe(1);
  });

  it('the sweeper re-runs an image whose failed job is still kept (its failure never handled)', async () => {
    const { t, id, queuePrefix } = await start('3');
    await dieOn(queuePrefix, id, t, { failItFirst: true });
    expect(await t.container.queue.state(id)).toBe('failed');
    await t.container.db.execute(sql`update images set updated_at = now() - interval '1 day' where id = ${id}`);
    await t.container.startBackgroundWork();
    expect((await t.container.runMaintenance()).requeued).toBe(1);
    const image = await waitFor(async () => {
      const row = await getImage(t.container.db, id);
      return row?.status === 'processed' || row?.status === 'failed' ? row : undefined;
    }, 15_000, 'the re-run to end the image');
    expect(image.status).toBe('processed');
    expect(await t.container.queue.state(id)).toBe('completed');
  });
});
