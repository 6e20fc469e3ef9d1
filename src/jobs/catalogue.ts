/** Every job type the app runs; the queue checks at start that each has exactly one handler. */
export const PROCESS_IMAGE = 'process-image';
export const JOB_TYPES = [PROCESS_IMAGE] as const;
export type JobType = (typeof JOB_TYPES)[number];
