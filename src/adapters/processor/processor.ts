export type Operation = 'remove-bg' | 'upscale' | 'downscale';

export interface ProcessJob {
  imageId: string;
  operation: Operation;
  /** The stored upload's bytes. */
  loadInput(): Promise<Buffer>;
  /** A signed URL of the upload valid >= 1 h (for the remote provider). */
  inputUrl(): Promise<string>;
  /** Stored earlier: resume polling, never resubmit. */
  providerTaskId: string | null;
  /** Awaited before polling starts. */
  saveProviderTaskId(id: string): Promise<void>;
  /** PROVIDER_TIMEOUT_S after the job first started. */
  deadline: Date;
  /** Shutdown. */
  signal?: AbortSignal;
}

export interface Processor {
  readonly kind: 'local' | 'makeit3d';
  /** A valid PNG (decoded and re-encoded by us). */
  process(job: ProcessJob): Promise<Buffer>;
}

/** Failed task, deadline passed, bad output: no retry, the image fails with a refund. */
export class PermanentProcessingError extends Error {
  override name = 'PermanentProcessingError';
}

/** 429 storm exhausted, 5xx, connection trouble: the queue may retry later. */
export class TransientProcessingError extends Error {
  override name = 'TransientProcessingError';
}
