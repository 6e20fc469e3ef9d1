import { Badge } from '@shopify/polaris';

type Tone = 'info' | 'success' | 'critical' | 'attention' | 'warning' | undefined;

const LABELS: Record<string, { label: string; tone: Tone; progress?: 'incomplete' | 'partiallyComplete' | 'complete' }> = {
  waiting: { label: 'Waiting', tone: undefined, progress: 'incomplete' },
  uploading: { label: 'Uploading', tone: 'info', progress: 'partiallyComplete' },
  pending: { label: 'Queued', tone: 'info', progress: 'incomplete' },
  queued: { label: 'Queued', tone: 'info', progress: 'incomplete' },
  processing: { label: 'Processing', tone: 'attention', progress: 'partiallyComplete' },
  processed: { label: 'Processed', tone: 'success', progress: 'complete' },
  failed: { label: 'Failed', tone: 'critical' },
  original: { label: 'Original', tone: undefined },
  applied: { label: 'Applied', tone: 'success', progress: 'complete' },
  restored: { label: 'Restored', tone: undefined },
  running: { label: 'Running', tone: 'attention', progress: 'partiallyComplete' },
  paused: { label: 'Paused', tone: 'warning' },
  cancelled: { label: 'Cancelled', tone: undefined },
  done: { label: 'Done', tone: 'success', progress: 'complete' },
};

export function StatusBadge({ status, label }: { status: string; label?: string }) {
  const s = LABELS[status] ?? { label: status, tone: undefined };
  return (
    <Badge tone={s.tone} {...(s.progress ? { progress: s.progress } : {})}>
      {label ?? s.label}
    </Badge>
  );
}
