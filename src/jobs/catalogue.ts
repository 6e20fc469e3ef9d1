/** Every job type the app runs; the queue checks at start that each has exactly one handler. */
export const PROCESS_IMAGE = 'process-image';
/** Writes a processed catalogue result to the product (payload `{imageId, mode}`). */
export const APPLY_MEDIA = 'catalogue-apply';
/** Walks one catalogue page of a batch and enqueues the next (payload `{batchId, page}`). */
export const BATCH_PAGE = 'catalogue-batch-page';
export const JOB_TYPES = [PROCESS_IMAGE, APPLY_MEDIA, BATCH_PAGE] as const;
export type JobType = (typeof JOB_TYPES)[number];

/** Job ids are the dedupe: a result is applied by one job, a batch page is walked by one job (BullMQ ids hold no `:`). */
export const applyJobId = (imageId: string) => `apply-${imageId}`;
export const batchPageJobId = (batchId: string, page: number) => `batch-${batchId}-${page}`;
