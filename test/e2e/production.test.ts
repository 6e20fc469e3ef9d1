import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeMakeIt3D, startFakeMakeIt3D } from '../fakes/makeit3d.js';
import { type LocalS3, S3RVER_CREDENTIALS, startLocalS3 } from '../fakes/s3rver.js';
import { createPostgresDatabase } from '../helpers/db.js';
import { productShot, uploadForm } from '../helpers/images.js';
import { freePort, type Spawned, spawnEntry, waitFor } from '../helpers/process.js';
import { postgresAvailable, redisAvailable } from '../helpers/services.js';
import { collectStream } from '../helpers/stream.js';

/**
 * Production mode end to end, each part a real process or server: the API and
 * BullMQ workers (`src/main/worker.ts`) on PostgreSQL, a Redis of the test's
 * own (so it can be restarted), S3 (s3rver) and the fake MakeIt3D.
 */

interface PrivateRedis {
  url: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A redis-server with an append-only file, so a restart keeps the queue (as production Redis must). */
async function startPersistentRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'redis-aof-'));
  let child: ChildProcess;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''],
      { stdio: 'ignore' },
    );
    await waitFor(
      async () => {
        const probe = spawn('redis-cli', ['-p', String(port), 'ping']);
        let out = '';
        probe.stdout.on('data', (d: Buffer) => (out += d.toString()));
        await new Promise((r) => probe.once('exit', r));
        return out.trim() === 'PONG';
      },
      10_000,
      'redis to start',
    );
  };
  const stopNow = async () => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    async restart() {
      await stopNow();
      await start();
    },
    async stop() {
      await stopNow();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.runIf(postgresAvailable && redisAvailable)('production mode: PostgreSQL + BullMQ workers + S3 + MakeIt3D', () => {
  let database: { url: string; drop(): Promise<void> };
  let redis: PrivateRedis;
  let s3: LocalS3;
  let provider: FakeMakeIt3D;
  let api: Spawned;
  let worker: Spawned;
  let base: string;
  let cookie: string;
  let env: Record<string, string>;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'prod-'));
  const shop = 'prod.myshopify.com';

  const startWorker = () => spawnEntry('src/main/worker.ts', env);

  beforeAll(async () => {
    [database, redis, s3, provider] = await Promise.all([
      createPostgresDatabase(),
      startPersistentRedis(),
      startLocalS3('images'),
      startFakeMakeIt3D({ completeAfterMs: 300 }),
    ]);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = {
      PORT: String(port),
      HOST: '127.0.0.1',
      BACKEND_URL: base,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      S3_BUCKET: 'images',
      S3_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
      MAKEIT3D_API_KEY: provider.apiKey,
      MAKEIT3D_BASE_URL: provider.url,
      QUEUE_LOCK_MS: '2000',
      PROVIDER_TIMEOUT_S: '15',
      WORKER_CONCURRENCY: '2',
      RL_BURST_LIMIT: '1000',
      RL_SUST_LIMIT: '10000',
      RL_UPLOAD_BURST_LIMIT: '1000',
      RL_UPLOAD_SUST_LIMIT: '10000',
    };
    api = spawnEntry('src/main/api.ts', env);
    worker = startWorker();
    await waitFor(async () => (await fetch(`${base}/ready`)).ok, 30_000, 'the API to be ready');
    const login = await fetch(`${base}/auth/dev-login?shop=${shop}`);
    cookie = `session=${((await login.json()) as { token: string }).token}`;
  }, 90_000);

  afterAll(async () => {
    for (const p of [api, worker]) if (p && p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.allSettled([api?.exited, worker?.exited]);
    await Promise.allSettled([redis?.stop(), s3?.close(), provider?.close()]);
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function upload(operation: string, file?: Buffer): Promise<string> {
    const form = uploadForm(file ?? (await productShot(60, 40)), operation);
    const res = await fetch(`${base}/upload`, { method: 'POST', headers: { ...form.headers, cookie }, body: form.payload });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }
  const image = async (id: string) =>
    (await (await fetch(`${base}/images/${id}`, { headers: { cookie } })).json()) as {
      status: string;
      processed_path: string | null;
      error_message: string | null;
    };
  const finished = (id: string, timeoutMs = 30_000) =>
    waitFor(async () => {
      const i = await image(id);
      return i.status === 'processed' || i.status === 'failed' ? i : undefined;
    }, timeoutMs, `image ${id}`);
  const credits = async () => ((await (await fetch(`${base}/credits/me`, { headers: { cookie } })).json()) as { credits: number }).credits;
  async function download(key: string): Promise<Buffer> {
    const res = await fetch(`${base}/fileserve/download?path=${encodeURIComponent(key)}`, { headers: { cookie } });
    expect(res.status).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  }
  async function ledgerRows(id: string) {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const r = await client.query<{ reason: string }>('select reason from credit_transactions where reference = $1 order by created_at', [id]);
      return r.rows.map((row) => row.reason);
    } finally {
      await client.end();
    }
  }

  it('is ready with PostgreSQL, BullMQ and S3', async () => {
    const ready = (await (await fetch(`${base}/ready`)).json()) as unknown;
    expect(ready).toEqual({ status: 'ready', checks: { db: 'ok', queue: 'ok', storage: 'ok' } });
  });

  it('processes each operation through MakeIt3D into valid PNGs in S3', async () => {
    const ids = {
      upscale: await upload('upscale'),
      downscale: await upload('downscale'),
      removeBg: await upload('remove-bg'),
    };
    const results = await Promise.all(Object.values(ids).map((id) => finished(id)));
    for (const r of results) expect(r.status).toBe('processed');
    const up = await sharp(await download((await image(ids.upscale)).processed_path!)).metadata();
    expect(up).toMatchObject({ format: 'png', width: 120, height: 80 });
    const down = await sharp(await download((await image(ids.downscale)).processed_path!)).metadata();
    expect(down).toMatchObject({ format: 'png', width: 30, height: 20 });
    const bg = await sharp(await download((await image(ids.removeBg)).processed_path!)).metadata();
    expect(bg).toMatchObject({ format: 'png', hasAlpha: true });
    for (const [op, id] of [['upscale', ids.upscale], ['downscale', ids.downscale], ['remove-bg', ids.removeBg]]) {
      expect(provider.stats.tasksByClientId.get(`${op}-${id}`)).toBe(1);
    }
  });

  it('status changes made by the worker process reach /images/events on the API (Redis pub/sub)', async () => {
    const stream = await fetch(`${base}/images/events`, { headers: { cookie } });
    expect(stream.status).toBe(200);
    const events = collectStream(stream);
    await waitFor(async () => events.text().includes(': connected'), 5000, 'the stream');
    const id = await upload('downscale');
    await waitFor(async () => events.text().includes(`"id":"${id}","status":"processed"`), 30_000, 'the processed event');
    await events.cancel();
  });

  it('a failed provider task fails the image with its message and refunds once', async () => {
    provider.controls.failWith = 'content policy violation';
    try {
      const before = await credits();
      const id = await upload('upscale');
      const done = await finished(id);
      expect(done).toMatchObject({ status: 'failed' });
      expect(done.error_message).toContain('content policy violation');
      expect(await credits()).toBe(before);
      expect(await ledgerRows(id)).toEqual(['debit', 'refund']);
    } finally {
      provider.controls.failWith = null;
    }
  });

  it('a worker killed with SIGKILL mid-job: another worker resumes the task, no second submit, no refund', async () => {
    // Still running when the kill comes (within ~100 ms of the submit), and done by the
    // replacement's first poll rather than three polls later.
    provider.controls.completeAfterMs = 2500;
    try {
      const id = await upload('upscale');
      await waitFor(async () => provider.stats.tasksByClientId.get(`upscale-${id}`) === 1, 20_000, 'the provider task');
      worker.child.kill('SIGKILL');
      await worker.exited;
      worker = startWorker();
      const done = await finished(id, 45_000);
      expect(done.status).toBe('processed');
      expect(provider.stats.tasksByClientId.get(`upscale-${id}`)).toBe(1);
      expect(await ledgerRows(id)).toEqual(['debit']);
    } finally {
      provider.controls.completeAfterMs = 300;
    }
  });

  it('a task that never completes fails at the deadline, refunded once, with a bounded number of polls', async () => {
    provider.controls.pendingForever = true;
    try {
      const before = await credits();
      const id = await upload('downscale');
      const done = await finished(id, 40_000);
      expect(done.status).toBe('failed');
      expect(done.error_message).toMatch(/deadline/i);
      expect(await credits()).toBe(before);
      expect(await ledgerRows(id)).toEqual(['debit', 'refund']);
      const task = [...provider.tasks.values()].find((tk) => tk.body.task_id === `downscale-${id}`)!;
      expect(task.polls).toBeGreaterThan(2);
      expect(task.polls).toBeLessThan(12); // 1 s, 2 s, 3 s, then every 5 s over 15 s
    } finally {
      provider.controls.pendingForever = false;
    }
  });

  it('Redis restarted during work: the jobs complete', async () => {
    provider.controls.completeAfterMs = 2000;
    try {
      const ids = [await upload('downscale'), await upload('upscale')];
      await redis.restart();
      const done = await Promise.all(ids.map((id) => finished(id, 45_000)));
      for (const d of done) expect(d.status).toBe('processed');
      for (const id of ids) expect((await ledgerRows(id)).filter((r) => r === 'refund')).toEqual([]);
      // Uploads work again after the restart.
      expect((await finished(await upload('downscale'))).status).toBe('processed');
    } finally {
      provider.controls.completeAfterMs = 300;
    }
  });
});
