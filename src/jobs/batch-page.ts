import type { JobHandler } from '../adapters/queue/queue.js';
import type { Batches } from '../modules/catalogue/batches.js';

/** Walks one catalogue page of a batch (modules/catalogue/batches.ts) and enqueues the next. */
export function createBatchPageHandler(deps: { batches: Batches }): JobHandler {
  return async (payload) => {
    await deps.batches.walkPage(String(payload.batchId), Number(payload.page));
  };
}
