import { sql } from 'drizzle-orm';
import { type Db, queryRows } from '../db/client.js';
import { jobs } from '../db/schema.js';
import { backoffMs, type GaveUpHandler, type JobHandler, type JobQueue, PermanentJobError, RunAgainLater } from './queue.js';

export interface EmbeddedQueueOptions {
  db: Db;
  concurrency: number;
  maxAttempts?: number;
  /** A claimed job is owned for this long and renewed while it runs; a crash frees it after that. */
  leaseMs?: number;
  /** How often idle workers look for due retries. */
  pollMs?: number;
  /** On close, running jobs get this long to finish; then they are aborted and run again at the next start. */
  shutdownGraceMs?: number;
  onError?: (err: unknown, job: { id: string; type: string }) => void;
}

interface Claimed {
  id: string;
  type: string;
  payload: Record<string, unknown>;
  attempts: number;
}

/**
 * The in-process queue of embedded mode. Jobs live in the `jobs` table (the
 * upload transaction writes them), so a restart resumes them: a job whose
 * lease ran out (its process died) is claimed again.
 */
export function createEmbeddedQueue(opts: EmbeddedQueueOptions): JobQueue {
  const { db } = opts;
  const maxAttempts = opts.maxAttempts ?? 5;
  const leaseMs = opts.leaseMs ?? 60_000;
  const pollMs = opts.pollMs ?? 1000;
  /** Aborted when the grace period of a shutdown is over: running handlers stop. */
  const stop = new AbortController();
  /** Set when close() starts: no new job is claimed. */
  let draining = false;
  const running = new Set<Promise<void>>();
  /** Idle workers waiting for work; enqueue wakes one, close wakes all. */
  const idle = new Set<() => void>();
  /** Wake an idle worker when a deferred job falls due (the poll would find it up to pollMs late). */
  const wakeTimers = new Set<NodeJS.Timeout>();
  let started = false;

  function wakeIn(ms: number) {
    const timer = setTimeout(() => {
      wakeTimers.delete(timer);
      idle.values().next().value?.();
    }, ms);
    timer.unref();
    wakeTimers.add(timer);
  }

  async function claim(): Promise<Claimed | null> {
    const [job] = await queryRows<Claimed>(
      db,
      sql`
      update jobs set status = 'active', attempts = attempts + 1,
        locked_until = now() + make_interval(secs => ${leaseMs / 1000}), updated_at = now()
      where id = (
        select id from jobs
        where (status = 'queued' and run_at <= now()) or (status = 'active' and locked_until < now())
        order by run_at limit 1 for update skip locked)
      returning id, type, payload, attempts`,
    );
    return job ?? null;
  }

  async function finish(id: string, status: 'completed' | 'failed', error?: string) {
    await db.execute(
      sql`update jobs set status = ${status}, locked_until = null, last_error = ${error ?? null}, updated_at = now() where id = ${id}`,
    );
  }

  async function retryLater(id: string, delayMs: number, error: string | null, countAttempt: boolean) {
    await db.execute(sql`
      update jobs set status = 'queued', locked_until = null, last_error = ${error},
        attempts = attempts - ${countAttempt ? 0 : 1},
        run_at = now() + make_interval(secs => ${delayMs / 1000}), updated_at = now()
      where id = ${id}`);
  }

  async function run(job: Claimed, handler: JobHandler, onGaveUp?: GaveUpHandler) {
    const renew = setInterval(() => {
      void db
        .execute(sql`update jobs set locked_until = now() + make_interval(secs => ${leaseMs / 1000}) where id = ${job.id}`)
        .catch(() => {});
    }, leaseMs / 3);
    try {
      await handler(job.payload, { attempt: job.attempts, maxAttempts, signal: stop.signal });
      await finish(job.id, 'completed');
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof RunAgainLater) {
        // Not finished, not failed: queued again, due in delayMs, without counting the attempt.
        // The lease goes with it, so the slot serves other jobs meanwhile.
        await retryLater(job.id, err.delayMs, null, false);
        wakeIn(err.delayMs);
      } else if (stop.signal.aborted) {
        // Shutdown interrupted it: run again at the next start, without counting this attempt.
        await retryLater(job.id, 0, message, false);
      } else if (err instanceof PermanentJobError || job.attempts >= maxAttempts) {
        opts.onError?.(err, job);
        await finish(job.id, 'failed', message);
        await onGaveUp?.({ type: job.type, id: job.id, payload: job.payload }, message);
      } else {
        opts.onError?.(err, job);
        await retryLater(job.id, backoffMs(job.attempts), message, true);
      }
    } finally {
      clearInterval(renew);
    }
  }

  async function workerLoop(handlers: Record<string, JobHandler>, onGaveUp?: GaveUpHandler) {
    while (!draining) {
      let job: Claimed | null = null;
      try {
        job = await claim();
      } catch (err) {
        opts.onError?.(err, { id: '-', type: 'claim' });
      }
      if (job) {
        const handler = handlers[job.type];
        if (!handler) await finish(job.id, 'failed', `no handler for ${job.type}`);
        else await run(job, handler, onGaveUp).catch((err: unknown) => opts.onError?.(err, job!));
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          idle.delete(done);
          resolve();
        };
        const timer = setTimeout(done, pollMs);
        idle.add(done);
      });
    }
  }

  return {
    kind: 'embedded',
    async enqueue(type, id, payload, options) {
      const insert = db.insert(jobs).values({ id, type, payload });
      if (options?.rerun) {
        // A job that ended runs again from the start; a queued or active one is left as it is.
        await insert.onConflictDoUpdate({
          target: jobs.id,
          set: { status: 'queued', attempts: 0, runAt: sql`now()`, lockedUntil: null, updatedAt: sql`now()` },
          setWhere: sql`${jobs.status} in ('completed', 'failed')`,
        });
      } else if (!options?.recorded) {
        await insert.onConflictDoNothing();
      }
      idle.values().next().value?.();
    },
    async start(handlers, onGaveUp) {
      if (started) return;
      started = true;
      for (let i = 0; i < opts.concurrency; i++) {
        const loop = workerLoop(handlers, onGaveUp);
        running.add(loop);
        void loop.finally(() => running.delete(loop));
      }
    },
    async check() {
      await db.execute(sql`select 1 from jobs limit 1`);
    },
    async state(id) {
      const [row] = await queryRows<{ status: string; later: boolean }>(
        db,
        sql`select status, run_at > now() as later from jobs where id = ${id}`,
      );
      if (!row) return 'unknown';
      if (row.status === 'queued') return row.later ? 'delayed' : 'waiting';
      return row.status as 'active' | 'completed' | 'failed';
    },
    async counts() {
      const [counts] = await queryRows<{ waiting: number; active: number; delayed: number; failed: number }>(
        db,
        sql`
        select
          (count(*) filter (where status = 'queued' and run_at <= now()))::int as waiting,
          (count(*) filter (where status = 'active'))::int as active,
          (count(*) filter (where status = 'queued' and run_at > now()))::int as delayed,
          (count(*) filter (where status = 'failed'))::int as failed
        from jobs`,
      );
      return counts!;
    },
    async close() {
      draining = true;
      for (const timer of wakeTimers) clearTimeout(timer);
      wakeTimers.clear();
      for (const done of [...idle]) done();
      const grace = setTimeout(() => stop.abort(), opts.shutdownGraceMs ?? 0);
      await Promise.allSettled([...running]);
      clearTimeout(grace);
      stop.abort();
    },
  };
}
