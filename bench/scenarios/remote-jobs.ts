/**
 * (6) 2,000 remote jobs (MakeIt3D mode) against the fake provider with 5 s
 * tasks, in the production shape (API + worker, PostgreSQL, Redis): polls per
 * job, duplicate submits, and the API's and worker's memory growth.
 */
import { startFakeMakeIt3D } from '../../test/fakes/makeit3d.js';
import { productShot, uploadForm } from '../../test/helpers/images.js';
import { waitFor } from '../../test/helpers/process.js';
import { figure, type Scenario } from '../lib/report.js';
import { rssMiB } from '../lib/servers.js';
import { startStack } from '../lib/stack.js';

const ID = 'remote-jobs';
const JOBS = Number(process.env.BENCH_REMOTE_JOBS ?? 2000);
const TASK_MS = 5000;
const UPLOADERS = 20;

export const scenario: Scenario = {
  id: ID,
  title: 'Remote jobs against the fake MakeIt3D',
  async run() {
    const provider = await startFakeMakeIt3D({ completeAfterMs: TASK_MS });
    const limits = { RL_UPLOAD_BURST_LIMIT: '1000000', RL_UPLOAD_SUST_LIMIT: '1000000', FREE_CREDITS: String(JOBS + 10) };
    const stack = await startStack(
      { ...limits, MAKEIT3D_API_KEY: provider.apiKey, MAKEIT3D_BASE_URL: provider.url },
      // The worker signs input URLs the provider fetches from the API's /files.
      // The default WORKER_CONCURRENCY (4): a remote job leaves its slot between polls.
      (api) => ({ BACKEND_URL: api.base, DATABASE_POOL_SIZE: '20' }),
    );
    try {
      const { cookie } = await stack.api.login();
      const form = uploadForm(await productShot(800, 600, 'jpeg'), 'downscale', 'product.jpg', 'image/jpeg');
      const before = { api: rssMiB(stack.api.pid), worker: rssMiB(stack.worker.pid) };
      const peak = { ...before };
      const sample = () => {
        peak.api = Math.max(peak.api, rssMiB(stack.api.pid));
        peak.worker = Math.max(peak.worker, rssMiB(stack.worker.pid));
      };
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: UPLOADERS }, async () => {
          while (next < JOBS) {
            next++;
            const res = await fetch(`${stack.api.base}/upload`, { method: 'POST', headers: { ...form.headers, cookie }, body: form.payload });
            if (res.status !== 202) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
            await res.arrayBuffer();
          }
        }),
      );
      const uploadedS = (performance.now() - started) / 1000;
      const counts = await waitFor(
        async () => {
          sample();
          const { rows } = await stack.db.query<{ done: string; failed: string }>(
            `select count(*) filter (where status in ('processed','failed')) as done, count(*) filter (where status = 'failed') as failed from images`,
          );
          return Number(rows[0]!.done) >= JOBS && rows[0]!;
        },
        110_000,
        `${JOBS} remote jobs`,
      );
      const totalS = (performance.now() - started) / 1000;
      const after = { api: rssMiB(stack.api.pid), worker: rssMiB(stack.worker.pid) };
      const polls = [...provider.tasks.values()].map((t) => t.polls);
      const duplicates = [...provider.stats.tasksByClientId.values()].reduce((sum, n) => sum + n - 1, 0);
      return {
        figures: [
          figure(ID, 'failed jobs', { value: Number(counts.failed), unit: 'jobs', atMost: 0 }),
          figure(ID, 'polls per job (max)', { value: Math.max(...polls), unit: 'polls', atMost: 6 }),
          figure(ID, 'polls per job (mean)', { value: provider.stats.polls / JOBS, unit: 'polls' }),
          figure(ID, 'duplicate submits', { value: duplicates, unit: 'submits', atMost: 0, note: `${provider.stats.tasksCreated} tasks created` }),
          figure(ID, 'API memory growth (peak)', { value: peak.api - before.api, unit: 'MiB', atMost: 200, note: `${before.api.toFixed(0)} -> ${after.api.toFixed(0)} MiB after` }),
          figure(ID, 'worker memory growth (peak)', { value: peak.worker - before.worker, unit: 'MiB', atMost: 200, note: `${before.worker.toFixed(0)} -> ${after.worker.toFixed(0)} MiB after` }),
          figure(ID, 'all jobs done', { value: totalS, unit: 's', note: `uploads took ${uploadedS.toFixed(1)} s` }),
        ],
        notes: [
          `Set-up: the production shape (bench/lib/stack.ts: API + one worker from the built tree, fresh PostgreSQL database, Redis under this run's prefixes, shared local disk) with MAKEIT3D_API_KEY pointing at the fake (test/fakes/makeit3d.ts, in the bench process) whose tasks complete ${TASK_MS / 1000} s after submit. The default WORKER_CONCURRENCY (4): a remote job holds a slot only while it submits, polls once or downloads, and waits in BullMQ's delayed set between polls (1, 3, 6 s after its submit), so 4 slots serve all ${JOBS}.`,
          `Method: ${JOBS} downscale uploads from ${UPLOADERS} concurrent clients, then wait until PostgreSQL shows every image processed or failed. Polls and tasks per client task id are the fake's own counters; memory is VmRSS of each process before the uploads and its peak while sampled (about every 50 ms) until all jobs ended.`,
        ].join('\n\n'),
      };
    } finally {
      await stack.stop();
      await provider.close();
    }
  },
};
