import type { ImageStatus } from '../images/images.js';

/** Our state of one product media (docs/api.md, Catalogue). */
export const MEDIA_STATES = ['original', 'queued', 'processing', 'processed', 'applied', 'restored', 'failed'] as const;
export type MediaState = (typeof MEDIA_STATES)[number];

export interface RunState {
  status: ImageStatus;
  appliedAt: Date | null;
  restoredAt: Date | null;
}

/** A media's state from its newest run (none: `original`). */
export function mediaState(run: RunState | null | undefined): MediaState {
  if (!run) return 'original';
  if (run.restoredAt) return 'restored';
  if (run.appliedAt) return 'applied';
  switch (run.status) {
    case 'pending':
    case 'queued':
      return 'queued';
    case 'processing':
      return 'processing';
    case 'processed':
      return 'processed';
    case 'failed':
      return 'failed';
  }
}

/** A media with a run in flight is not taken again until it ends. */
export const isBusy = (state: MediaState) => state === 'queued' || state === 'processing';
