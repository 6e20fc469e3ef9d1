import { DelayedError, type Job, Queue, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import { withTimeout } from '../../lib/timeout.js';
import { type GaveUpHandler, type JobHandler, type JobQueue, PermanentJobError, RunAgainLater } from './queue.js';

export interface BullQueueOptions {
  /** Connection options for BullMQ's own connections (it needs blocking ones of its own). */
  redisUrl: string;
  concurrency: number;
  /** Lock of a running job, renewed while it runs; a job whose worker died is taken again after it. */
  lockMs?: number;
  maxAttempts?: number;
  queueName?: string;
  /** Prefix of the queue's Redis keys (BullMQ's default: `bull`). */
  prefix?: string;
  /** On close, running jobs get this long to finish; then they are aborted and handed back to the queue. */
  shutdownGraceMs?: number;
  onError?: (err: unknown, job: { id: string; type: string }) => void;
  /** How many times a job whose worker died is taken again before BullMQ fails it (default 3). */
  maxStalledCount?: number;
}

/** How long close() waits, past the grace period, for aborted jobs and for Redis before cutting the connections. */
const CLOSE_TIMEOUT_MS = 10_000;

function connectionFromUrl(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's production notes: workers wait for Redis forever, producers fail fast.
    maxRetriesPerRequest: null,
  };
}

/**
 * BullMQ on Redis: the API enqueues, `npm run worker` processes consume (any
 * number, on any machine). Job id = image id, so a duplicate enqueue is a no-op;
 * stalled jobs (a killed worker) are picked up again by BullMQ itself.
 */
export function createBullQueue(opts: BullQueueOptions): JobQueue {
  const name = opts.queueName ?? 'jobs';
  const maxAttempts = opts.maxAttempts ?? 5;
  const connection = connectionFromUrl(opts.redisUrl);
  const prefix = opts.prefix ?? 'bull';
  const graceMs = opts.shutdownGraceMs ?? 0;
  const queue = new Queue(name, {
    prefix,
    connection: { ...connection, enableOfflineQueue: false, maxRetriesPerRequest: 1 },
  });
  queue.on('error', () => {}); // surfaced by check(); ioredis reconnects
  let worker: Worker | null = null;
  /** Set when close() starts: a job fetched after that goes straight back (BullMQ can still hand one over). */
  let closing = false;
  const stop = new AbortController();
  const handBack = async (job: Job, token: string): Promise<never> => {
    await job.moveToWait(token);
    throw new WaitingError();
  };

  return {
    kind: 'bullmq',
    async enqueue(type, id, payload, options) {
      if (options?.rerun) {
        // BullMQ ignores an add whose id it still keeps (completed or failed): that job must go first.
        const ended = await queue.getJob(id);
        if (ended && ((await ended.isFailed()) || (await ended.isCompleted()))) await ended.remove();
      }
      await queue.add(type, payload, {
        jobId: id,
        attempts: maxAttempts,
        backoff: { type: 'exponential', delay: 2000 },
        removeOnComplete: { age: 24 * 3600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      });
    },
    async start(handlers: Record<string, JobHandler>, onGaveUp?: GaveUpHandler) {
      if (worker) return;
      worker = new Worker(
        name,
        async (job, token) => {
          const handler = handlers[job.name];
          if (!handler) throw new UnrecoverableError(`no handler for ${job.name}`);
          if (closing && token) return handBack(job, token);
          try {
            await handler(job.data as Record<string, unknown>, {
              attempt: job.attemptsMade + 1,
              maxAttempts: job.opts.attempts ?? maxAttempts,
              signal: stop.signal,
            });
          } catch (err) {
            // Not finished (a remote task still running): BullMQ's documented pattern, delayed with the
            // lock released; moveToDelayed skips the attempt, DelayedError tells the worker not to fail it.
            if (err instanceof RunAgainLater && token) {
              await job.moveToDelayed(Date.now() + err.delayMs, token);
              throw new DelayedError();
            }
            // Interrupted by shutdown: back to the waiting list without spending an attempt
            // (a failure would, and a stalled job counts towards maxStalledCount); the next
            // worker resumes it from its stored state (the provider task id).
            if (stop.signal.aborted && token) return handBack(job, token);
            if (err instanceof PermanentJobError) throw new UnrecoverableError(err.message);
            throw err;
          }
        },
        {
          prefix,
          connection,
          concurrency: opts.concurrency,
          lockDuration: opts.lockMs ?? 60_000,
          stalledInterval: opts.lockMs ?? 60_000,
          maxStalledCount: opts.maxStalledCount ?? 3,
        },
      );
      worker.on('error', () => {});
      // 'failed' comes for every failed attempt, and also when BullMQ itself fails a job without running
      // the handler (stalled more than maxStalledCount: its workers kept dying on it). Once the job has
      // really ended failed, whatever it was doing must end too (the image fails and is refunded).
      worker.on('failed', (job, err) => {
        opts.onError?.(err, { id: job?.id ?? '-', type: job?.name ?? '-' });
        if (!job?.id || !onGaveUp) return;
        void job
          .getState()
          .then(async (state) => {
            if (state === 'failed') await onGaveUp({ type: job.name, id: job.id!, payload: (job.data ?? {}) as Record<string, unknown> }, err.message);
          })
          .catch((failure: unknown) => opts.onError?.(failure, { id: job.id!, type: job.name }));
      });
    },
    async check() {
      await queue.getJobCounts('waiting'); // a real round trip to Redis
    },
    async state(id) {
      const state = await queue.getJobState(id);
      if (state === 'waiting' || state === 'prioritized' || state === 'waiting-children') return 'waiting';
      if (state === 'active' || state === 'delayed' || state === 'completed' || state === 'failed') return state;
      return 'unknown';
    },
    async counts() {
      const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
      return { waiting: c.waiting ?? 0, active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0 };
    },
    async close() {
      // BullMQ's close takes no new job and waits for the running ones. They get the grace
      // period to finish; then the abort signal makes them stop and hand themselves back.
      // With Redis gone, that close waits for a connection that never comes: it is bounded
      // (past the grace period), then the sockets are cut.
      closing = true;
      const grace = setTimeout(() => stop.abort(), graceMs);
      const bounded = async (closeCall: Promise<void>, disconnect: () => Promise<void>, ms: number) => {
        const closed = await withTimeout(closeCall, ms, 'queue close').then(
          () => true,
          () => false,
        );
        // BullMQ's disconnect can wait for a dead Redis too: bounded as well.
        if (!closed) await withTimeout(disconnect(), 1000, 'queue disconnect').catch(() => {});
      };
      try {
        if (worker) await bounded(worker.close(), () => worker!.disconnect(), graceMs + CLOSE_TIMEOUT_MS);
      } finally {
        clearTimeout(grace);
        stop.abort();
      }
      await bounded(queue.close(), () => queue.disconnect(), 1000); // a producer has nothing in flight
    },
  };
}
