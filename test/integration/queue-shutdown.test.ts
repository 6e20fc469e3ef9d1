import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/adapters/db/client.js';
import { createBullQueue } from '../../src/adapters/queue/bullmq.js';
import { createEmbeddedQueue } from '../../src/adapters/queue/embedded.js';
import type { JobContext, JobQueue } from '../../src/adapters/queue/queue.js';
import { DB_KINDS, openTestDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/process.js';
import { deleteRedisKeys } from '../helpers/redis-keys.js';
import { REDIS_TEST_URL, redisAvailable } from '../helpers/services.js';

/**
 * Graceful shutdown, the same for both adapters: close() takes no new job,
 * lets running ones finish within the grace period, and hands back the ones
 * that do not, without spending an attempt, so another worker runs them.
 */

interface Run {
  id: string;
  attempt: number;
  outcome?: 'completed' | 'aborted';
}

/** A handler that takes `ms` per job, or until aborted. */
function slowHandler(runs: Run[], ms: (id: string) => number) {
  return async (payload: Record<string, unknown>, ctx: JobContext) => {
    const run: Run = { id: String(payload.id), attempt: ctx.attempt };
    runs.push(run);
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        run.outcome = 'aborted';
        reject(new Error('aborted by shutdown'));
      };
      const timer = setTimeout(() => {
        ctx.signal.removeEventListener('abort', onAbort);
        run.outcome = 'completed';
        resolve();
      }, ms(run.id));
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
  };
}

type MakeQueue = (graceMs: number) => JobQueue;

function shutdownContract(make: () => MakeQueue) {
  it('finishes a running job within the grace period, and takes no new job once closing', async () => {
    const newQueue = make();
    const q = newQueue(10_000);
    const runs: Run[] = [];
    await q.start({ t: slowHandler(runs, () => 1500) });
    const running = randomUUID();
    await q.enqueue('t', running, { id: running });
    await waitFor(async () => runs.some((r) => r.id === running), 15_000, 'the job to start');

    const closing = q.close();
    const late = randomUUID();
    await q.enqueue('t', late, { id: late });
    await closing;
    expect(runs.find((r) => r.id === running)?.outcome).toBe('completed');
    expect(runs.some((r) => r.id === late)).toBe(false);

    // The job enqueued during the shutdown waits for the next worker.
    const next = newQueue(0);
    await next.start({ t: slowHandler(runs, () => 0) });
    await waitFor(async () => (await next.state(late)) === 'completed', 15_000, 'the late job on the next worker');
    expect(runs.filter((r) => r.id === late)).toEqual([{ id: late, attempt: 1, outcome: 'completed' }]);
    expect(runs.filter((r) => r.id === running)).toHaveLength(1);
    await next.close();
  });

  it('hands back a job that outlasts the grace period without spending an attempt; another worker completes it', async () => {
    const newQueue = make();
    const q = newQueue(300);
    const runs: Run[] = [];
    const id = randomUUID();
    await q.start({ t: slowHandler(runs, () => 60_000) });
    await q.enqueue('t', id, { id });
    await waitFor(async () => runs.some((r) => r.id === id), 15_000, 'the job to start');
    const started = Date.now();
    await q.close();
    expect(Date.now() - started).toBeLessThan(10_000); // the grace period, not the job's minute
    expect(runs).toEqual([{ id, attempt: 1, outcome: 'aborted' }]);
    expect(await q.state(id).catch(() => 'unknown')).not.toBe('failed');

    const next = newQueue(0);
    await next.start({ t: slowHandler(runs, () => 0) });
    await waitFor(async () => (await next.state(id)) === 'completed', 15_000, 'the job on the next worker');
    // Run twice (the interrupted run and the finishing one), completed once, and still its first attempt.
    expect(runs).toEqual([
      { id, attempt: 1, outcome: 'aborted' },
      { id, attempt: 1, outcome: 'completed' },
    ]);
    await next.close();
  });
}

describe.each(DB_KINDS)('embedded queue shutdown on %s', (kind) => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(() => database.close());

  shutdownContract(() => (graceMs) => createEmbeddedQueue({ db: database.db, concurrency: 2, pollMs: 50, shutdownGraceMs: graceMs }));
});

describe.runIf(redisAvailable)('BullMQ queue shutdown on Redis', () => {
  const prefix = `test-shutdown-${randomUUID()}`;
  afterAll(() => deleteRedisKeys(REDIS_TEST_URL, `${prefix}:*`));

  shutdownContract(() => {
    const queueName = `q-${randomUUID()}`; // one queue shared by the test's workers
    return (graceMs) =>
      createBullQueue({ redisUrl: REDIS_TEST_URL, prefix, queueName, concurrency: 2, lockMs: 5000, shutdownGraceMs: graceMs });
  });
});
