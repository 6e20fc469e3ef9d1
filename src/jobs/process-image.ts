import { buffer } from 'node:stream/consumers';
import type { Db } from '../adapters/db/client.js';
import type { ImageEvents } from '../adapters/events/image-events.js';
import { isProcessingAborted, PermanentProcessingError, type Processor, ProviderPendingError } from '../adapters/processor/processor.js';
import { type GaveUpHandler, type JobHandler, RunAgainLater } from '../adapters/queue/queue.js';
import type { Storage } from '../adapters/storage/storage.js';
import { type Finishing, isPlainFinishing, resultFormat } from '../modules/images/finishing.js';
import {
  clearSubmitIntent,
  type ImageRow,
  markFailed,
  markProcessed,
  markProcessing,
  recordSubmitIntent,
  saveProviderTaskId,
} from '../modules/images/images.js';
import { getSettings } from '../modules/shops/settings.js';

export interface ProcessImageDeps {
  db: Db;
  storage: Storage;
  processor: Processor;
  events: ImageEvents;
  /** PROVIDER_TIMEOUT_S, counted from the first start of the image. */
  timeoutMs: number;
  /** The optimize_images step (lossless re-compression). */
  optimize: (png: Buffer) => Promise<Buffer>;
  onOutcome?: (outcome: 'processed' | 'failed' | 'retry', operation: string) => void;
  /**
   * Runs before the processor: a catalogue image fetches its original here.
   * PermanentProcessingError fails the image (refunded); other errors are retried.
   */
  prepare?: (image: ImageRow, signal: AbortSignal) => Promise<void>;
  /** Runs once the image is processed (a catalogue run enqueues its apply job). */
  onProcessed?: (image: ImageRow) => Promise<void>;
  /** Runs once the image failed (and was refunded). */
  onFailed?: (image: ImageRow) => Promise<void>;
  /** The cause of a failure, for the logs (merchants read a message without internals). */
  onFailure?: (err: unknown, image: { id: string; operation: string }) => void;
}

/** Signed input URLs given to a remote provider stay valid this long (the spec asks for at least 1 h). */
const INPUT_URL_TTL_S = 2 * 60 * 60;

/**
 * Runs one image through the processor. Ends `processed`, or `failed` with
 * one refund; transient errors are thrown for the queue to retry, and the last
 * attempt fails the image instead. A repeated run of a finished image does nothing.
 * A remote task still running ends the run with RunAgainLater: the job leaves its
 * worker slot and comes back when the next poll is due (not an attempt).
 */
export function createProcessImageHandler(deps: ProcessImageDeps): JobHandler {
  const publish = (shop: string, id: string) => deps.events.publish(shop, id).catch(() => {});

  return async (payload, ctx) => {
    const imageId = String(payload.imageId);
    const image = await markProcessing(deps.db, imageId);
    if (!image) return; // processed, failed, or gone
    // Only the first run changes what a merchant sees (queued -> processing); a retry or a
    // resumed remote task (many runs per image) stays `processing` and publishes nothing.
    if (image.attempts === 1) await publish(image.shop, image.id);

    const fail = async (message: string) => {
      const failed = await markFailed(deps.db, image.id, message);
      if (failed) {
        deps.onOutcome?.('failed', image.operation);
        await publish(image.shop, image.id);
        await deps.onFailed?.(failed).catch(() => {});
      }
    };

    const deadline = new Date((image.startedAt ?? new Date()).getTime() + deps.timeoutMs);
    // A stored provider task gets one last poll at the deadline (the processor fails it after that).
    const remoteTask = image.providerTaskId !== null;
    if (!remoteTask && Date.now() >= deadline.getTime()) return fail('Processing deadline exceeded');

    // Finishing (stored resolved with the image) applies to remove-bg only; a plain one is a PNG cut-out.
    const stored = (image.options as Finishing | null) ?? null;
    const finishing = image.operation === 'remove-bg' && stored && !isPlainFinishing(stored) ? stored : null;
    const { ext, contentType } = resultFormat(finishing ?? { format: 'png' });
    try {
      // The provider has the input once a task exists: a resumed run prepares nothing.
      if (!remoteTask) await deps.prepare?.(image, ctx.signal);
      let result = await deps.processor.process({
        imageId: image.id,
        operation: image.operation,
        loadInput: async () => buffer((await deps.storage.get(image.originalPath)).body),
        inputUrl: () => deps.storage.signedUrl(image.originalPath, INPUT_URL_TTL_S),
        providerTaskId: image.providerTaskId,
        // The intent is written just before the submit and kept with the task id: the closest stored
        // time to the task's creation, and no write per poll (started_at for rows without it).
        submittedAt: image.providerSubmitStartedAt ?? image.startedAt,
        submitIntentRecorded: image.providerSubmitStartedAt !== null && image.providerTaskId === null,
        recordSubmitIntent: () => recordSubmitIntent(deps.db, image.id),
        clearSubmitIntent: () => clearSubmitIntent(deps.db, image.id),
        // A provider task that could not be recorded must never be submitted again: fail the image.
        saveProviderTaskId: (taskId) =>
          saveProviderTaskId(deps.db, image.id, taskId).catch((err: unknown) => {
            throw new PermanentProcessingError(`Could not record the provider task: ${String(err)}`);
          }),
        deadline,
        signal: ctx.signal,
        finishing,
      });
      // optimize_images is a lossless PNG re-compression; JPEG and WebP results are encoded once
      if (ext === 'png' && (await getSettings(deps.db, image.shop)).optimizeImages) result = await deps.optimize(result);
      const key = `${image.shop}/processed/${image.id}.${ext}`;
      await deps.storage.put(key, result, contentType);
      const done = await markProcessed(deps.db, image.id, key);
      if (done) {
        deps.onOutcome?.('processed', image.operation);
        await publish(image.shop, image.id);
      }
      // A lost follow-up (a crash here) is enqueued again by the sweeper.
      if (done) await deps.onProcessed?.(done).catch(() => {});
    } catch (err) {
      // The provider is still working: free the slot, come back when the next poll is due.
      if (err instanceof ProviderPendingError) throw new RunAgainLater(err.retryInMs);
      // Shutdown: the image stays `processing` and resumes from the stored provider task id.
      if (ctx.signal.aborted || isProcessingAborted(err)) throw err;
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof PermanentProcessingError) {
        deps.onFailure?.(err, image);
        return fail(err.publicMessage ?? message);
      }
      if (ctx.attempt >= ctx.maxAttempts) {
        // The last transient error names network internals: logged, not shown.
        deps.onFailure?.(err, image);
        return fail(`Processing failed after ${ctx.attempt} attempts; the credit was refunded`);
      }
      deps.onOutcome?.('retry', image.operation);
      throw err;
    }
  };
}

/** What merchants read when the queue gave up on their image (the cause is logged, not shown). */
export const GAVE_UP_MESSAGE = 'Processing failed; the credit was refunded';

/**
 * The queue ended an image's job without the handler finishing it (BullMQ
 * failed it after too many stalls, or retries ran out): the image fails and is
 * refunded once, like any other failure. An image already finished is left alone.
 */
export function createImageGaveUpHandler(deps: Pick<ProcessImageDeps, 'db' | 'events' | 'onOutcome'>): GaveUpHandler {
  return async (job) => {
    const imageId = typeof job.payload.imageId === 'string' ? job.payload.imageId : job.id;
    const row = await markFailed(deps.db, imageId, GAVE_UP_MESSAGE);
    if (!row) return;
    deps.onOutcome?.('failed', row.operation);
    await deps.events.publish(row.shop, row.id).catch(() => {});
  };
}
