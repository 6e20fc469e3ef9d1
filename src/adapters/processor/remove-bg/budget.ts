/**
 * The reference job of remove-bg's pixel budget (REMOVE_BG_MAX_PIXELS_IN_FLIGHT defaults to
 * REMOVE_BG_CONCURRENCY of them): a 2048 px square. Apart from pool.ts so the config loads no sharp.
 */
export const REFERENCE_JOB_PIXELS = 2048 * 2048;
