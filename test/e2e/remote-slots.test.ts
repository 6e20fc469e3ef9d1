import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getImage } from '../../src/modules/images/images.js';
import { type FakeMakeIt3D, startFakeMakeIt3D } from '../fakes/makeit3d.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { createPostgresDatabase } from '../helpers/db.js';
import { productShot, uploadForm } from '../helpers/images.js';
import { freePort } from '../helpers/net.js';
import { waitFor } from '../helpers/process.js';
import { deleteRedisKeys } from '../helpers/redis-keys.js';
import { postgresAvailable, REDIS_TEST_URL, redisAvailable } from '../helpers/services.js';

/**
 * A remote job does not hold a worker slot while the provider works: with one slot
 * (WORKER_CONCURRENCY=1) and 1.5 s tasks, every job is submitted before the first
 * task completes; a job that waits in the queue survives its worker stopping.
 */
const TASK_MS = 1500;

const QUEUES: Array<{ name: string; enabled: boolean; env: () => Record<string, string> }> = [
  { name: 'the embedded queue', enabled: true, env: () => ({}) },
  { name: 'BullMQ', enabled: redisAvailable, env: () => ({ REDIS_URL: REDIS_TEST_URL }) },
];

async function startApp(fake: FakeMakeIt3D, env: Record<string, string>, database?: { url: string }): Promise<TestApp> {
  const port = await freePort();
  const t = await createTestApp({
    jobs: true,
    ...(database ? { database: { kind: 'postgres' as const, url: database.url } } : {}),
    env: {
      MAKEIT3D_API_KEY: fake.apiKey,
      MAKEIT3D_BASE_URL: fake.url,
      BACKEND_URL: `http://127.0.0.1:${port}`,
      WORKER_CONCURRENCY: '1',
      ...env,
    },
  });
  await t.app.listen({ port, host: '127.0.0.1' });
  return t;
}

async function upload(t: TestApp, cookie: string): Promise<string> {
  const form = uploadForm(await productShot(), 'upscale');
  const res = await t.app.inject({ method: 'POST', url: '/upload', payload: form.payload, headers: { ...form.headers, cookie } });
  expect(res.statusCode).toBe(202);
  return (res.json() as { id: string }).id;
}

const processed = (t: TestApp, id: string) =>
  waitFor(async () => {
    const row = await getImage(t.container.db, id);
    return row?.status === 'processed' || row?.status === 'failed' ? row : undefined;
  }, 30_000, 'the image to end');

describe.each(QUEUES.filter((q) => q.enabled))('remote jobs on $name with one worker slot (PGlite)', ({ env }) => {
  let fake: FakeMakeIt3D;
  let t: TestApp;
  let cookie: string;

  beforeAll(async () => {
    fake = await startFakeMakeIt3D({ completeAfterMs: TASK_MS });
    t = await startApp(fake, env());
    ({ cookie } = await devLogin(t.app, 'slots.myshopify.com'));
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('three jobs are all submitted before the first task completes, each polled on the schedule', async () => {
    const ids = [await upload(t, cookie), await upload(t, cookie), await upload(t, cookie)];
    await waitFor(async () => fake.stats.tasksCreated >= 3, 20_000, 'three submits');
    // A job holding its slot while it polls would finish (download) before the next submit.
    expect(fake.stats.downloads).toBe(0);
    for (const id of ids) expect((await getImage(t.container.db, id))!.status).toBe('processing');

    for (const id of ids) expect((await processed(t, id)).status).toBe('processed');
    for (const id of ids) expect(fake.stats.tasksByClientId.get(`upscale-${id}`)).toBe(1);
    // polls at 1 s (processing) and 3 s (complete) after each submit; a late run only skips one
    for (const task of fake.tasks.values()) {
      expect(task.polls).toBeGreaterThanOrEqual(1);
      expect(task.polls).toBeLessThanOrEqual(2);
    }
  });
});

describe.skipIf(!postgresAvailable).each(QUEUES.filter((q) => q.enabled))('a delayed remote job on $name (PostgreSQL)', ({ env }) => {
  let fake: FakeMakeIt3D;
  let database: { url: string; drop(): Promise<void> };
  const apps: TestApp[] = [];
  const prefix = `test-remote-slots-${randomUUID()}`;

  beforeAll(async () => {
    fake = await startFakeMakeIt3D({ completeAfterMs: TASK_MS });
    database = await createPostgresDatabase();
  });
  afterAll(async () => {
    for (const t of apps) await t.close().catch(() => {});
    await fake?.close();
    await database?.drop();
    if (env().REDIS_URL) await deleteRedisKeys(REDIS_TEST_URL, `${prefix}:*`);
  });

  it('survives its worker stopping: the next worker polls the stored task, no second submit', async () => {
    // One queue (the same prefix) and one database for both workers in turn.
    const shared = { ...env(), ...(env().REDIS_URL ? { QUEUE_PREFIX: prefix } : {}) };
    const first = await startApp(fake, shared, database);
    apps.push(first);
    const { cookie } = await devLogin(first.app, 'restart.myshopify.com');
    const id = await upload(first, cookie);
    await waitFor(
      async () => fake.stats.tasksCreated === 1 && (await first.container.queue.state(id)) === 'delayed',
      20_000,
      'the job to wait in the queue',
    );
    const pollsBefore = fake.stats.polls;
    await first.close();
    apps.splice(apps.indexOf(first), 1);

    const second = await startApp(fake, shared, database);
    apps.push(second);
    const image = await processed(second, id);
    expect(image.status).toBe('processed');
    expect(fake.stats.submitRequests).toBe(1);
    expect(fake.stats.tasksByClientId.get(`upscale-${id}`)).toBe(1);
    expect(fake.stats.polls).toBeGreaterThan(pollsBefore); // the second worker polled the stored task
  });
});
