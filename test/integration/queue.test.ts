import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/adapters/db/client.js';
import { createBullQueue } from '../../src/adapters/queue/bullmq.js';
import { createEmbeddedQueue } from '../../src/adapters/queue/embedded.js';
import { checkHandlers, type JobContext, type JobQueue, PermanentJobError, RunAgainLater } from '../../src/adapters/queue/queue.js';
import { DB_KINDS, openTestDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/process.js';
import { deleteRedisKeys } from '../helpers/redis-keys.js';
import { REDIS_TEST_URL, redisAvailable } from '../helpers/services.js';

/** Records every run of every job, and lets a test decide what each run does. */
function recorder(behaviour: (id: string, ctx: JobContext) => Promise<void> = async () => {}) {
  const runs: Array<{ id: string; attempt: number }> = [];
  return {
    runs,
    handler: async (payload: Record<string, unknown>, ctx: JobContext) => {
      runs.push({ id: String(payload.id), attempt: ctx.attempt });
      await behaviour(String(payload.id), ctx);
    },
    count: (id: string) => runs.filter((r) => r.id === id).length,
  };
}

/** The same behaviour asked of both adapters. */
function queueContract(name: string, make: () => Promise<JobQueue>, after: () => Promise<void> = async () => {}) {
  describe(name, () => {
    it('runs a job enqueued twice under one id once', async () => {
      const q = await make();
      const r = recorder();
      await q.start({ t: r.handler });
      const id = randomUUID();
      await Promise.all([q.enqueue('t', id, { id }), q.enqueue('t', id, { id })]);
      await waitFor(async () => r.count(id) === 1, 10_000, 'the job');
      await q.enqueue('t', id, { id });
      const other = randomUUID();
      await q.enqueue('t', other, { id: other });
      await waitFor(async () => r.count(other) === 1, 10_000, 'a later job');
      expect(r.count(id)).toBe(1);
      await q.close();
      await after();
    });

    it('retries a failing job and passes the attempt number', async () => {
      const q = await make();
      const id = randomUUID();
      const r = recorder(async (_id, ctx) => {
        if (ctx.attempt < 2) throw new Error('flaky');
      });
      await q.start({ t: r.handler });
      await q.enqueue('t', id, { id });
      await waitFor(async () => (await q.state(id)) === 'completed', 15_000, 'the retry to succeed');
      expect(r.runs.filter((x) => x.id === id).map((x) => x.attempt)).toEqual([1, 2]);
      await q.close();
      await after();
    });

    it('a job that asks to run again later is delayed, not failed, and its reruns are not attempts', async () => {
      const q = await make();
      const id = randomUUID();
      const r = recorder(async (jobId) => {
        const runs = r.count(jobId);
        if (runs <= 2) throw new RunAgainLater(300);
        if (runs === 3) throw new Error('flaky'); // a real failure after the deferrals: attempt 1 failed
      });
      await q.start({ t: r.handler });
      await q.enqueue('t', id, { id });
      await waitFor(async () => r.count(id) === 1 && (await q.state(id)) === 'delayed', 10_000, 'the job to be delayed');
      await waitFor(async () => (await q.state(id)) === 'completed', 20_000, 'the job to complete');
      expect(r.runs.filter((x) => x.id === id).map((x) => x.attempt)).toEqual([1, 1, 1, 2]);
      await q.close();
      await after();
    });

    it('does not retry a permanent failure', async () => {
      const q = await make();
      const id = randomUUID();
      const later = randomUUID();
      const r = recorder(async (jobId) => {
        if (jobId === id) throw new PermanentJobError('broken input');
      });
      await q.start({ t: r.handler });
      await q.enqueue('t', id, { id });
      await waitFor(async () => (await q.state(id)) === 'failed', 10_000, 'the job to fail for good');
      await q.enqueue('t', later, { id: later });
      await waitFor(async () => r.count(later) === 1, 10_000, 'the later job');
      expect(r.count(id)).toBe(1);
      expect(await q.state(id)).toBe('failed');
      await q.close();
      await after();
    });
  });
}

describe.each(DB_KINDS)('embedded queue on %s', (kind) => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(() => database.close());

  queueContract('contract', async () => createEmbeddedQueue({ db: database.db, concurrency: 2, pollMs: 50 }));

  it('claims again a job whose process died (its lease ran out)', async () => {
    const id = randomUUID();
    await database.db.execute(sql`insert into jobs (id, type, payload, status, attempts, locked_until)
      values (${id}, 't', ${JSON.stringify({ id })}::jsonb, 'active', 1, now() - interval '1 second')`);
    const q = createEmbeddedQueue({ db: database.db, concurrency: 1, pollMs: 50 });
    const r = recorder();
    await q.start({ t: r.handler });
    await waitFor(async () => r.count(id) === 1, 10_000, 'the orphaned job');
    expect(r.runs.find((x) => x.id === id)?.attempt).toBe(2);
    await q.close();
  });

  it('on close, interrupts running jobs and keeps them for the next start without counting the attempt', async () => {
    const id = randomUUID();
    const q = createEmbeddedQueue({ db: database.db, concurrency: 1, pollMs: 50 });
    const r = recorder(
      (_id, ctx) =>
        new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))),
    );
    await q.start({ t: r.handler });
    await q.enqueue('t', id, { id });
    await waitFor(async () => r.count(id) === 1, 10_000, 'the job to start');
    await q.close();
    const rows = (await database.db.execute(sql`select status, attempts from jobs where id = ${id}`)) as unknown as {
      rows: Array<{ status: string; attempts: number }>;
    };
    expect(rows.rows[0]).toEqual({ status: 'queued', attempts: 0 });

    const again = createEmbeddedQueue({ db: database.db, concurrency: 1, pollMs: 50 });
    const r2 = recorder();
    await again.start({ t: r2.handler });
    await waitFor(async () => r2.count(id) === 1, 10_000, 'the resumed job');
    expect(r2.runs[0]!.attempt).toBe(1);
    await again.close();
  });

  it('reports queue depth', async () => {
    const q = createEmbeddedQueue({ db: database.db, concurrency: 1 });
    const id = randomUUID();
    await q.enqueue('t', id, { id }); // not started: it waits
    expect((await q.counts()).waiting).toBeGreaterThanOrEqual(1);
    await q.check();
    await q.close();
  });
});

describe.runIf(redisAvailable)('BullMQ queue on Redis', () => {
  // A prefix of this suite's own, deleted afterwards: nothing is left in the shared Redis.
  const prefix = `test-queue-${randomUUID()}`;
  afterAll(() => deleteRedisKeys(REDIS_TEST_URL, `${prefix}:*`));
  queueContract('contract', async () => createBullQueue({ redisUrl: REDIS_TEST_URL, concurrency: 2, prefix, queueName: `q-${randomUUID()}` }));
});

describe('the job catalogue check', () => {
  it('refuses a missing or an unknown handler at start', () => {
    const h = async () => {};
    expect(() => checkHandlers(['a', 'b'], { a: h })).toThrow(/missing \[b\]/);
    expect(() => checkHandlers(['a'], { a: h, c: h })).toThrow(/unknown \[c\]/);
    expect(() => checkHandlers(['a'], { a: h })).not.toThrow();
  });
});
