import type { JobHandler } from '../adapters/queue/queue.js';
import { PermanentJobError } from '../adapters/queue/queue.js';
import { DomainError } from '../lib/errors.js';
import type { Catalogue } from '../modules/catalogue/catalogue.js';
import { getRun, markApplyFailed } from '../modules/catalogue/runs.js';
import type { Db } from '../adapters/db/client.js';

/**
 * Writes a processed catalogue result to its product (`apply` of the run).
 * The job id is the image's (one apply job per result) and the run records
 * the apply once: a repeat after a crash answers the media as it is.
 * A media that is gone, or a refusal of the store, is permanent: the result
 * stays `processed`, for the merchant to review.
 */
export function createApplyMediaHandler(deps: { db: Db; catalogue: Catalogue; onDone?: (imageId: string) => Promise<void> }): JobHandler {
  return async (payload) => {
    const imageId = String(payload.imageId);
    const mode = payload.mode === 'add' ? 'add' : 'replace';
    const run = await getRun(deps.db, imageId);
    if (!run || run.appliedAt) return;
    try {
      await deps.catalogue.apply(run.shop, run.mediaId, imageId, mode);
      await deps.onDone?.(imageId);
    } catch (err) {
      if (err instanceof DomainError && err.kind !== 'unavailable' && err.kind !== 'rate_limited') {
        await markApplyFailed(deps.db, imageId, err.message);
        await deps.onDone?.(imageId);
        throw new PermanentJobError(err.message);
      }
      throw err;
    }
  };
}
