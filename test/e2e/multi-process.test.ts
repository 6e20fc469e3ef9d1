import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeMakeIt3D, startFakeMakeIt3D } from '../fakes/makeit3d.js';
import { type LocalS3, startLocalS3 } from '../fakes/s3rver.js';
import { createPostgresDatabase } from '../helpers/db.js';
import { uploadForm } from '../helpers/images.js';
import { freePort, type Spawned, spawnEntry, waitFor } from '../helpers/process.js';
import { productShots } from '../helpers/product-shots.js';
import { deleteRedisKeys } from '../helpers/redis-keys.js';
import { postgresAvailable, REDIS_TEST_URL, redisAvailable } from '../helpers/services.js';
import { collectStream } from '../helpers/stream.js';

/**
 * Several processes behind one load balancer, as deployed: two API processes
 * and two workers (plus a replacement) sharing one PostgreSQL database, the
 * machine's Redis (this test's own key prefixes) and S3 (s3rver), with the
 * fake MakeIt3D (it
 * counts submits, so "no job ran twice" is checkable). Rate limits, event
 * streams and purchases must hold across the two APIs; 100 jobs must all end
 * processed, each submitted once, with exact credits, while one worker is
 * stopped with SIGTERM and another killed with SIGKILL.
 */

const JOBS = 100;
const GRACE_S = 3;
/** The fake provider's time per task. */
const JOB_MS = 800;
const SUSTAINED_LIMIT = 20;

interface Worker {
  name: string;
  proc: Spawned;
  opsUrl: string;
}

describe.runIf(postgresAvailable && redisAvailable)('two APIs and two workers sharing PostgreSQL and Redis', () => {
  const id = randomBytes(4).toString('hex');
  const queuePrefix = `mp-${id}`;
  const rlPrefix = `mp-${id}-rl:`;
  const uploader = `mp-up-${id}.myshopify.com`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'multi-'));
  let database: { url: string; drop(): Promise<void> };
  let provider: FakeMakeIt3D;
  let s3: LocalS3;
  let db: pg.Pool;
  const apis: Array<{ proc: Spawned; url: string }> = [];
  const workers: Worker[] = [];
  let env: Record<string, string>;
  let uploaderCookie: string;
  let inputs: Buffer[];

  async function startWorker(name: string): Promise<Worker> {
    const port = await freePort();
    // Info level: the worker's start and stop lines (a worker logs nothing per job).
    const proc = spawnEntry('src/main/worker.ts', { ...env, LOG_LEVEL: 'info', WORKER_PORT: String(port) });
    const worker = { name, proc, opsUrl: `http://127.0.0.1:${port}` };
    workers.push(worker);
    await waitFor(async () => (await fetch(`${worker.opsUrl}/ready`)).ok, 90_000, `${name} to be ready`);
    return worker;
  }

  /** Jobs a worker process finished as `processed`, from its own /metrics. */
  async function processedBy(worker: Worker): Promise<number> {
    const text = await (await fetch(`${worker.opsUrl}/metrics`)).text();
    return [...text.matchAll(/^jobs_total\{[^}]*outcome="processed"[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  }
  /** Jobs running in a worker process now. */
  async function runningIn(worker: Worker): Promise<number> {
    const text = await (await fetch(`${worker.opsUrl}/metrics`)).text();
    return Number(/^jobs_running (\d+)$/m.exec(text)?.[1] ?? 0);
  }

  async function login(api: string, shop: string): Promise<string> {
    const res = await fetch(`${api}/auth/dev-login?shop=${shop}`);
    expect(res.status).toBe(200);
    return `session=${((await res.json()) as { token: string }).token}`;
  }

  async function upload(api: string, i: number, operation: string): Promise<string> {
    const form = uploadForm(inputs[i % inputs.length]!, operation, 'shot.png', 'image/png');
    const res = await fetch(`${api}/upload`, { method: 'POST', headers: { ...form.headers, cookie: uploaderCookie }, body: form.payload });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }

  const rows = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => (await db.query<T>(text, values)).rows;

  beforeAll(async () => {
    [database, provider, s3] = await Promise.all([
      createPostgresDatabase(),
      // Done by the adapter's first status poll (1 s): a job takes about a second, not three.
      startFakeMakeIt3D({ completeAfterMs: JOB_MS }),
      startLocalS3('images'),
    ]);
    db = new pg.Pool({ connectionString: database.url, max: 2 });
    inputs = (await productShots()).map((shot) => shot.input);
    const ports = [await freePort(), await freePort()];
    env = {
      HOST: '127.0.0.1',
      // Both APIs sign URLs for the first one, as behind one public address.
      BACKEND_URL: `http://127.0.0.1:${ports[0]}`,
      DATA_DIR: dataDir,
      ...s3.env, // the provider fetches inputs from the bucket, as in production
      LOG_LEVEL: 'warn',
      DATABASE_URL: database.url,
      REDIS_URL: REDIS_TEST_URL,
      QUEUE_PREFIX: queuePrefix,
      RL_KEY_PREFIX: rlPrefix,
      JWT_SECRET: randomBytes(32).toString('base64url'),
      TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      MAKEIT3D_API_KEY: provider.apiKey,
      MAKEIT3D_BASE_URL: provider.url,
      QUEUE_LOCK_MS: '2000',
      PROVIDER_TIMEOUT_S: '300',
      WORKER_CONCURRENCY: '8',
      WORKER_SHUTDOWN_GRACE_S: String(GRACE_S),
      FREE_CREDITS: '1000',
      RL_BURST_LIMIT: '1000',
      RL_SUST_LIMIT: String(SUSTAINED_LIMIT),
      RL_SUST_WINDOW: '60',
      RL_UPLOAD_BURST_LIMIT: '1000',
      RL_ALLOWLIST: uploader, // the 100 uploads are not what the rate-limit test counts
    };
    for (const port of ports) apis.push({ proc: spawnEntry('src/main/api.ts', { ...env, PORT: String(port) }), url: `http://127.0.0.1:${port}` });
    // Only worker 2 at first: what it processes, it alone processed.
    await Promise.all([
      ...apis.map((a) => waitFor(async () => (await fetch(`${a.url}/ready`)).ok, 90_000, 'an API').catch((err: unknown) => {
        throw new Error(`${String(err)}; its output: ${a.proc.output()}`);
      })),
      startWorker('worker 2'),
    ]);
    uploaderCookie = await login(apis[0]!.url, uploader);
  }, 120_000);

  afterAll(async () => {
    for (const p of [...apis.map((a) => a.proc), ...workers.map((w) => w.proc)]) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }
    await Promise.allSettled([...apis.map((a) => a.proc.exited), ...workers.map((w) => w.proc.exited)]);
    await db?.end();
    await Promise.allSettled([provider?.close(), s3?.close(), database?.drop()]);
    await deleteRedisKeys(REDIS_TEST_URL, `${queuePrefix}:*`);
    await deleteRedisKeys(REDIS_TEST_URL, `${rlPrefix}*`);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('an event stream on API 1 sees an image that API 2 accepted and worker 2 processed', async () => {
    const stream = await fetch(`${apis[0]!.url}/images/events`, { headers: { cookie: uploaderCookie } });
    expect(stream.status).toBe(200);
    const events = collectStream(stream);
    try {
      await waitFor(async () => events.text().includes(': connected'), 10_000, 'the stream');
      const image = await upload(apis[1]!.url, 0, 'downscale');
      await waitFor(async () => events.text().includes(`"id":"${image}","status":"processed"`), 60_000, 'the processed event on API 1');
      expect(await processedBy(workers[0]!)).toBe(1);
    } finally {
      await events.cancel();
    }
  });

  it('rate limits count once across both APIs (Redis)', async () => {
    const shop = `mp-rl-${id}.myshopify.com`;
    const cookie = await login(apis[0]!.url, shop);
    const statuses: number[] = [];
    for (let i = 0; i < SUSTAINED_LIMIT + 10; i++) {
      const res = await fetch(`${apis[i % 2]!.url}/credits/me`, { headers: { cookie } });
      statuses.push(res.status);
    }
    // The login counted by IP, not by shop: every shop request is in the count.
    expect(statuses.filter((s) => s === 200)).toHaveLength(SUSTAINED_LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    expect(statuses.slice(0, SUSTAINED_LIMIT).every((s) => s === 200)).toBe(true);
    const fallbacks = await (await fetch(`${apis[1]!.url}/metrics`)).text();
    expect(fallbacks).toMatch(/^rate_limiter_fallbacks_total 0$/m);
  });

  it('a purchase confirmed on both APIs at once is credited once', async () => {
    const shop = `mp-buy-${id}.myshopify.com`;
    const cookie = await login(apis[1]!.url, shop);
    const checkout = await fetch(`${apis[1]!.url}/credits/checkout`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ planId: '100' }),
    });
    expect(checkout.status).toBe(200);
    const confirm = new URL(((await checkout.json()) as { confirmationUrl: string }).confirmationUrl);
    const answers = await Promise.all(
      [...apis, ...apis].map((a) => fetch(`${a.url}${confirm.pathname}${confirm.search}`, { headers: { cookie }, redirect: 'manual' })),
    );
    for (const res of answers) {
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toMatch(/credits_added=100/);
    }
    const me = (await (await fetch(`${apis[0]!.url}/credits/me`, { headers: { cookie } })).json()) as { credits: number };
    expect(me.credits).toBe(1000 + 100);
    const ledger = await rows<{ reason: string; n: number }>(
      'select reason, count(*)::int as n from credit_transactions where shop = $1 group by reason order by reason',
      [shop],
    );
    expect(ledger).toEqual([
      { reason: 'grant', n: 1 },
      { reason: 'purchase', n: 1 },
    ]);
  });

  it(`${JOBS} jobs through two workers, one stopped with SIGTERM and one killed with SIGKILL: each processed once, credits exact`, async () => {
    const worker2 = workers[0]!;
    const worker1 = await startWorker('worker 1');
    const before = await rows<{ balance: number }>('select balance from shop_credits where shop = $1', [uploader]);
    const operations = ['upscale', 'downscale', 'remove-bg'];
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) ids.push(await upload(apis[i % 2]!.url, i, operations[i % 3]!));

    // Both workers take part.
    await waitFor(async () => (await processedBy(worker1)) >= 3 && (await processedBy(worker2)) >= 4, 120_000, 'both workers to process jobs');

    // SIGTERM: worker 1 takes no new job, finishes or hands back its running ones within the grace, and exits 0.
    await waitFor(async () => (await runningIn(worker1)) > 0, 60_000, 'worker 1 to be running jobs');
    const stopping = Date.now();
    worker1.proc.child.kill('SIGTERM');
    expect(await worker1.proc.exited).toBe(0);
    expect(Date.now() - stopping).toBeLessThan((GRACE_S + 15) * 1000);
    expect(worker1.proc.output()).toContain('worker stopped');

    // SIGKILL worker 2 while it has jobs in flight, once every image has been submitted: a kill
    // between the provider's answer and our database write is the provider's lack of idempotency
    // (a separate safeguard), not what shutdown must survive. The provider then holds every task
    // pending: worker 2 dies with jobs waiting in the queue between polls (delayed) and, when it
    // is caught mid-poll, one active (stalled after the kill); both are resumed from the stored id.
    await waitFor(
      async () => (await rows<{ n: number }>('select count(*)::int as n from images where id = any($1::uuid[]) and provider_task_id is null', [ids]))[0]!.n === 0,
      120_000,
      'every image to be submitted',
    );
    provider.controls.completeAfterMs = 10 * 60_000;
    await waitFor(async () => (await runningIn(worker2)) > 0, 10_000, 'worker 2 to be running jobs');
    worker2.proc.child.kill('SIGKILL');
    await worker2.proc.exited;
    provider.controls.completeAfterMs = JOB_MS;
    const replacement = await startWorker('worker 3');

    const finished = await waitFor(
      async () => {
        const done = await rows<{ id: string; status: string; error_message: string | null }>(
          `select id, status, error_message from images where id = any($1::uuid[]) and status in ('processed', 'failed')`,
          [ids],
        );
        return done.length === JOBS ? done : undefined;
      },
      240_000,
      `all ${JOBS} jobs to finish`,
    );
    expect(finished.filter((r) => r.status !== 'processed')).toEqual([]);
    expect(await processedBy(replacement)).toBeGreaterThan(0);

    // None twice: one provider task per image.
    const submits = (image: string) => [...provider.stats.tasksByClientId].filter(([k]) => k.endsWith(image)).reduce((n, [, c]) => n + c, 0);
    expect(ids.filter((image) => submits(image) !== 1)).toEqual([]);
    // Credits exact: one debit each, no refund, the balance down by exactly JOBS.
    const ledger = await rows<{ reason: string; n: number }>(
      `select reason, count(*)::int as n from credit_transactions where reference = any($1::text[]) group by reason`,
      [ids],
    );
    expect(ledger).toEqual([{ reason: 'debit', n: JOBS }]);
    const after = await rows<{ balance: number }>('select balance from shop_credits where shop = $1', [uploader]);
    expect(after[0]!.balance).toBe(before[0]!.balance - JOBS);
  }, 420_000);
});


