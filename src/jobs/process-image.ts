import { buffer } from 'node:stream/consumers';
import type { Db } from '../adapters/db/client.js';
import type { ImageEvents } from '../adapters/events/image-events.js';
import { isProcessingAborted, PermanentProcessingError, type Processor } from '../adapters/processor/processor.js';
import type { JobHandler } from '../adapters/queue/queue.js';
import type { Storage } from '../adapters/storage/storage.js';
import { type Finishing, isPlainFinishing, resultFormat } from '../modules/images/finishing.js';
import { markFailed, markProcessed, markProcessing, saveProviderTaskId } from '../modules/images/images.js';
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
}

/** Signed input URLs given to a remote provider stay valid this long (the spec asks for at least 1 h). */
const INPUT_URL_TTL_S = 2 * 60 * 60;

/**
 * Runs one image through the processor. Ends `processed`, or `failed` with
 * one refund; transient errors are thrown for the queue to retry, and the last
 * attempt fails the image instead. A repeated run of a finished image does nothing.
 */
export function createProcessImageHandler(deps: ProcessImageDeps): JobHandler {
  const publish = (shop: string, id: string) => deps.events.publish(shop, id).catch(() => {});

  return async (payload, ctx) => {
    const imageId = String(payload.imageId);
    const image = await markProcessing(deps.db, imageId);
    if (!image) return; // processed, failed, or gone
    await publish(image.shop, image.id);

    const fail = async (message: string) => {
      if (await markFailed(deps.db, image.id, message)) {
        deps.onOutcome?.('failed', image.operation);
        await publish(image.shop, image.id);
      }
    };

    const deadline = new Date((image.startedAt ?? new Date()).getTime() + deps.timeoutMs);
    if (Date.now() >= deadline.getTime()) return fail('Processing deadline exceeded');

    // Finishing (stored resolved with the image) applies to remove-bg only; a plain one is a PNG cut-out.
    const stored = (image.options as Finishing | null) ?? null;
    const finishing = image.operation === 'remove-bg' && stored && !isPlainFinishing(stored) ? stored : null;
    const { ext, contentType } = resultFormat(finishing ?? { format: 'png' });
    try {
      let result = await deps.processor.process({
        imageId: image.id,
        operation: image.operation,
        loadInput: async () => buffer((await deps.storage.get(image.originalPath)).body),
        inputUrl: () => deps.storage.signedUrl(image.originalPath, INPUT_URL_TTL_S),
        providerTaskId: image.providerTaskId,
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
      if (await markProcessed(deps.db, image.id, key)) {
        deps.onOutcome?.('processed', image.operation);
        await publish(image.shop, image.id);
      }
    } catch (err) {
      // Shutdown: the image stays `processing` and resumes from the stored provider task id.
      if (ctx.signal.aborted || isProcessingAborted(err)) throw err;
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof PermanentProcessingError) return fail(message);
      if (ctx.attempt >= ctx.maxAttempts) return fail(`Gave up after ${ctx.attempt} attempts: ${message}`);
      deps.onOutcome?.('retry', image.operation);
      throw err;
    }
  };
}
