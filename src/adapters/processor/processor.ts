/**
 * The image-processor port. Two adapters implement it: `local` (sharp, offline)
 * and `makeit3d` (the remote provider, see docs/makeit3d.md).
 *
 * Error contract for the caller (the job handler):
 * - PermanentProcessingError: do not retry; mark the image failed, refund once.
 *   SubmitOutcomeUnknownError is a subclass (see makeit3d.ts for why it is permanent).
 * - TransientProcessingError: the queue may retry the job later. A retry with a
 *   stored providerTaskId resumes polling; it never resubmits.
 * - ProviderPendingError: not an error of the image. A remote task is stored and
 *   still running: end this run and run the job again in `retryInMs` (resumed
 *   from the stored providerTaskId), without holding a worker slot meanwhile.
 * - ProcessingAbortedError (name "AbortError"): job.signal fired (shutdown). The
 *   image must NOT be failed: leave it processing, the job runs again after the
 *   restart (and resumes from the stored provider id). Recognise it with
 *   `isProcessingAborted(err)`.
 */
import type { Finishing } from '../../modules/images/finishing.js';

export type Operation = 'remove-bg' | 'upscale' | 'downscale';

export const OPERATIONS: readonly Operation[] = ['remove-bg', 'upscale', 'downscale'];

export interface ProcessJob {
  /** uuid */
  imageId: string;
  operation: Operation;
  /** The stored upload's bytes. */
  loadInput(): Promise<Buffer>;
  /** A signed URL of the upload valid >= 1 h (for the remote provider). */
  inputUrl(): Promise<string>;
  /** Stored earlier: resume polling, never resubmit. */
  providerTaskId: string | null;
  /**
   * When the stored task's submit went out (images.provider_submit_started_at): the poll schedule
   * is counted from it across runs. Null: unknown, polls follow the schedule's last step.
   */
  submittedAt?: Date | null;
  /** Awaited BEFORE polling starts. */
  saveProviderTaskId(id: string): Promise<void>;
  /**
   * A remote provider's submit intent: true when an earlier run recorded one and stored no task id
   * (it died mid-submit). Optional so local processing needs none of it.
   */
  submitIntentRecorded?: boolean;
  /** Recorded before a submit goes out. */
  recordSubmitIntent?(): Promise<void>;
  /** Cleared when the submit surely created nothing (refused, or never reached the provider). */
  clearSubmitIntent?(): Promise<void>;
  /** PROVIDER_TIMEOUT_S after the job started. */
  deadline: Date;
  /** Shutdown. */
  signal?: AbortSignal;
  /**
   * The image's resolved finishing options (images.options), or null for a plain
   * cut-out. Applies to remove-bg only; the result is then encoded as
   * `resultFormat(finishing)` (docs/api.md, "Finishing options").
   */
  finishing?: Finishing | null;
}

export interface Processor {
  readonly kind: 'local' | 'makeit3d';
  /**
   * Resolves to a valid image decoded and re-encoded by us: a PNG, except a
   * remove-bg result with finishing, which is in `resultFormat(job.finishing)`.
   */
  process(job: ProcessJob): Promise<Buffer>;
  /** Prepares what the adapter needs (the local model); rejects when it cannot: a start-up error. */
  start?(): Promise<void>;
  /** Ends what start() or the first job started (the local model's thread). */
  close?(): Promise<void>;
}

/** Failed task, deadline passed, bad output: no retry, refund. */
export class PermanentProcessingError extends Error {
  override name = 'PermanentProcessingError';
  /** What the merchant reads in error_message when the message itself is a detail for the logs. */
  readonly publicMessage: string | undefined;
  constructor(message: string, options: { publicMessage?: string } = {}) {
    super(message);
    this.publicMessage = options.publicMessage;
  }
}

/** 429 storm exhausted / 5xx / connection: the queue may retry later. */
export class TransientProcessingError extends Error {
  override name = 'TransientProcessingError';
}

/**
 * A submit was sent but no answer came back (our timeout fired). The provider
 * may have created a task we cannot find (no idempotency, no lookup by our
 * task_id), so we neither retry it nor let the queue retry it: the image fails
 * and is refunded; the merchant may run it again.
 */
export class SubmitOutcomeUnknownError extends PermanentProcessingError {
  override name = 'SubmitOutcomeUnknownError';
}

/**
 * The remote task is stored and still pending or processing: check again in `retryInMs`.
 * The caller ends the run (the queue runs the job again later, it is not an attempt).
 */
export class ProviderPendingError extends Error {
  override name = 'ProviderPendingError';
  readonly retryInMs: number;
  constructor(retryInMs: number) {
    super(`provider task still running: check again in ${Math.round(retryInMs)} ms`);
    this.retryInMs = retryInMs;
  }
}

/** Thrown when job.signal aborts (shutdown). Not a failure of the image. */
export class ProcessingAbortedError extends Error {
  override name = 'AbortError';
  readonly aborted = true;
  constructor(message = 'processing aborted (shutdown)') {
    super(message);
  }
}

export function isProcessingAborted(err: unknown): err is ProcessingAbortedError {
  return err instanceof ProcessingAbortedError;
}

/** Throws ProcessingAbortedError when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ProcessingAbortedError();
}
