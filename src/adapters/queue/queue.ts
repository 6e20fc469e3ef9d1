export interface JobContext {
  /** 1 for the first run. */
  attempt: number;
  maxAttempts: number;
  /** Aborted on shutdown: stop, the job runs again after the restart. */
  signal: AbortSignal;
}

/** The queue ended a job without a handler finishing it; `reason` is for the logs. */
export type GaveUpHandler = (job: { type: string; id: string; payload: Record<string, unknown> }, reason: string) => Promise<void>;

export type JobHandler = (payload: Record<string, unknown>, ctx: JobContext) => Promise<void>;

/** The queue port: at-least-once delivery, one job per id. */
export interface JobQueue {
  readonly kind: 'embedded' | 'bullmq';
  /**
   * Idempotent by id: enqueueing an id twice runs it once. With `rerun`, a job of that id that already
   * ended in the queue (completed or failed) is replaced, so it runs again (the sweeper's repair).
   * `recorded`: the caller committed the job's row in `jobs` itself (in the transaction that created
   * the work), so none is written again.
   */
  enqueue(type: string, id: string, payload: Record<string, unknown>, options?: { rerun?: boolean; recorded?: boolean }): Promise<void>;
  /**
   * Starts consuming with exactly one handler per job type. `onGaveUp` runs when the queue ends a job
   * without its handler having finished it (BullMQ: stalled past maxStalledCount, retries spent).
   */
  start(handlers: Record<string, JobHandler>, onGaveUp?: GaveUpHandler): Promise<void>;
  check(): Promise<void>;
  /** Where one job is; `unknown` when the queue has no such job (or has dropped it). */
  state(id: string): Promise<'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'unknown'>;
  counts(): Promise<{ waiting: number; active: number; delayed: number; failed: number }>;
  close(): Promise<void>;
}

/** Thrown by a handler: do not retry. */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}

/**
 * Thrown by a handler: not finished, not failed either; run the job again in `delayMs`. The job
 * leaves its worker slot meanwhile (a remote task that the provider is still working on), and
 * the run is not counted as an attempt (attempts stay those of real failures).
 */
export class RunAgainLater extends Error {
  override name = 'RunAgainLater';
  readonly delayMs: number;
  constructor(delayMs: number) {
    const ms = Math.max(0, Math.ceil(delayMs));
    super(`not finished: run again in ${ms} ms`);
    this.delayMs = ms;
  }
}

/** Every job type has exactly one handler (checked at start, so a typo cannot strand jobs). */
export function checkHandlers(types: readonly string[], handlers: Record<string, JobHandler>): void {
  const missing = types.filter((t) => typeof handlers[t] !== 'function');
  const unknown = Object.keys(handlers).filter((t) => !types.includes(t));
  if (missing.length || unknown.length) {
    throw new Error(`job handlers do not match the catalogue: missing [${missing.join(', ')}], unknown [${unknown.join(', ')}]`);
  }
}

/** Retry delays: 2 s, 4 s, 8 s ... capped at 60 s. */
export const backoffMs = (attempt: number) => Math.min(60_000, 1000 * 2 ** attempt);
