import {
  Banner,
  BlockStack,
  Button,
  Card,
  DropZone,
  InlineStack,
  Layout,
  Page,
  ProgressBar,
  Text,
  Thumbnail,
} from '@shopify/polaris';
import { useEffect, useRef, useState } from 'react';
import { useAccount } from '../account';
import { api, ok } from '../api/client';
import { describeError } from '../api/describe';
import { ApiError } from '../api/http';
import { DEFAULT_FINISHING, type Finishing, type Operation } from '../api/pending';
import { postForm } from '../api/upload';
import { ErrorBanner } from '../components/ErrorBanner';
import { FinishingFields, finishingValid, OperationChoice } from '../components/OperationFields';
import { StatusBadge } from '../components/StatusBadge';
import { MAX_UPLOAD_BYTES } from '../env';
import { useThrottled } from '../hooks';
import { type ImageEvent, useCatchUp, useLiveEvent } from '../live/LiveProvider';

type ItemStatus = 'waiting' | 'uploading' | ImageEvent['status'] | 'error';

interface Item {
  key: string;
  file: File;
  preview: string;
  status: ItemStatus;
  progress: number;
  imageId?: string;
  problem?: string;
  idempotencyKey: string;
}

const TERMINAL: ItemStatus[] = ['processed', 'failed'];
/** Statuses only move forward (docs/api.md); a late or repeated event never undoes one. */
const RANK: Record<ItemStatus, number> = { waiting: 0, error: 0, uploading: 1, pending: 2, queued: 3, processing: 4, processed: 5, failed: 5 };
const CONCURRENT_UPLOADS = 2;
const mb = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MB`;

interface UploadAnswer {
  id: string;
  status: 'queued';
  remaining_credits: number;
}

export default function Upload() {
  const { credits, setCredits, refresh } = useAccount();
  const [items, setItems] = useState<Item[]>([]);
  const [operation, setOperation] = useState<Operation>('remove-bg');
  const [finishing, setFinishing] = useState<Finishing>(DEFAULT_FINISHING);
  const [rejected, setRejected] = useState<string[]>([]);
  const [blocking, setBlocking] = useState<unknown>();
  const [announcement, setAnnouncement] = useState('');
  const itemsRef = useRef(items);
  useEffect(() => {
    itemsRef.current = items;
  });
  /** Statuses seen on the stream before an upload's answer named its id (processing can be that fast). */
  const seen = useRef(new Map<string, ImageEvent>());

  // The shop's saved finishing defaults, when the server keeps them (settings.finishing).
  useEffect(() => {
    ok(api.GET('/settings')).then(
      (s) => {
        const saved = (s as { finishing?: Partial<Finishing> }).finishing;
        if (saved) setFinishing({ ...DEFAULT_FINISHING, ...saved });
      },
      () => undefined,
    );
  }, []);
  useEffect(() => () => itemsRef.current.forEach((i) => URL.revokeObjectURL(i.preview)), []);

  const update = (key: string, patch: Partial<Item>) => setItems((all) => all.map((i) => (i.key === key ? { ...i, ...patch } : i)));
  const refreshCredits = useThrottled(refresh, 2000);

  /** An image's new status, by id, in the state itself (not a snapshot), and never backwards. */
  const advance = (image: Pick<ImageEvent, 'id' | 'status' | 'error_message'>) =>
    setItems((all) =>
      all.map((i) =>
        i.imageId === image.id && RANK[image.status] > RANK[i.status]
          ? { ...i, status: image.status, ...(image.error_message ? { problem: image.error_message } : {}) }
          : i,
      ),
    );
  useLiveEvent<ImageEvent>('image', (event) => {
    seen.current.set(event.id, event);
    advance(event);
    const item = itemsRef.current.find((i) => i.imageId === event.id);
    if (item && (event.status === 'processed' || event.status === 'failed')) {
      setAnnouncement(`${item.file.name}: ${event.status}`);
      if (event.status === 'failed') refreshCredits(); // refunded
    }
  });
  // After a gap in the stream, ask for what it may have missed.
  useCatchUp(() => {
    for (const item of itemsRef.current) {
      if (!item.imageId || TERMINAL.includes(item.status)) continue;
      void ok(api.GET('/images/{id}', { params: { path: { id: item.imageId } } })).then(advance, () => undefined);
    }
  }, true);

  const add = (files: File[]) => {
    const fresh = files.map<Item>((file) => ({
      key: crypto.randomUUID(),
      file,
      preview: URL.createObjectURL(file),
      status: file.size > MAX_UPLOAD_BYTES ? 'error' : 'waiting',
      progress: 0,
      idempotencyKey: crypto.randomUUID(),
      ...(file.size > MAX_UPLOAD_BYTES ? { problem: `Larger than the ${mb(MAX_UPLOAD_BYTES)} limit` } : {}),
    }));
    setItems((all) => [...all, ...fresh]);
  };

  async function uploadOne(item: Item): Promise<'ok' | 'stop'> {
    update(item.key, { status: 'uploading', progress: 0, problem: undefined });
    const form = new FormData();
    form.append('operation', operation);
    if (operation === 'remove-bg') for (const [k, v] of Object.entries(finishing)) form.append(k, String(v));
    form.append('file', item.file, item.file.name);
    try {
      const answer = await postForm<UploadAnswer>('/upload', form, {
        // The same key on a retry: the server answers the first result and debits once.
        headers: { 'idempotency-key': item.idempotencyKey },
        onProgress: (progress) => update(item.key, { progress }),
      });
      setCredits(answer.remaining_credits);
      update(item.key, { imageId: answer.id, progress: 1, status: 'queued' });
      // Processing can be quicker than this answer: apply what the stream said already.
      const early = seen.current.get(answer.id);
      if (early) advance(early);
      return 'ok';
    } catch (err) {
      const d = describeError(err);
      update(item.key, { status: 'error', problem: `${d.title}. ${d.message}` });
      if (err instanceof ApiError && (err.status === 402 || err.status === 401 || err.status === 0)) {
        setBlocking(err);
        return 'stop';
      }
      return 'ok';
    }
  }

  const [running, setRunning] = useState(false);
  async function start() {
    setBlocking(undefined);
    setRunning(true);
    const queue = itemsRef.current.filter((i) => i.status === 'waiting' || (i.status === 'error' && !i.imageId && i.file.size <= MAX_UPLOAD_BYTES));
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const next = queue.shift();
        if (!next) return;
        if ((await uploadOne(next)) === 'stop') stop = true;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENT_UPLOADS }, worker));
    // Concurrent answers can arrive out of order, each with the balance after its own debit: read the final one.
    refresh();
    setRunning(false);
  }

  const pending = items.filter((i) => i.status === 'waiting' || (i.status === 'error' && !i.imageId && i.file.size <= MAX_UPLOAD_BYTES));
  const canStart = pending.length > 0 && !running && (operation !== 'remove-bg' || finishingValid(finishing));

  return (
    <Page title="Upload" subtitle="Each image costs one credit; results appear live.">
      <Layout>
        <Layout.Section>
          <BlockStack gap="400">
            {blocking !== undefined && <ErrorBanner error={blocking} onDismiss={() => setBlocking(undefined)} />}
            {pending.length > credits && (
              <Banner tone="warning" title={`${pending.length} images, ${credits} credits`} action={{ content: 'Buy credits', url: '/credits' }}>
                <p>Only the first {credits} can be processed with your balance.</p>
              </Banner>
            )}
            {rejected.length > 0 && (
              <Banner tone="critical" title="Some files are not images" onDismiss={() => setRejected([])}>
                <p>{rejected.join(', ')}</p>
              </Banner>
            )}
            <Card>
              <DropZone
                label="Images to upload"
                accept="image/png,image/jpeg,image/webp,image/gif,image/avif,image/tiff"
                type="image"
                allowMultiple
                onDrop={(_all, accepted, refused) => {
                  add(accepted);
                  setRejected(refused.map((f) => f.name));
                }}
              >
                <DropZone.FileUpload actionTitle="Add images" actionHint={`PNG, JPEG, WebP, GIF, AVIF or TIFF, up to ${mb(MAX_UPLOAD_BYTES)} each`} />
              </DropZone>
            </Card>
            {items.length > 0 && (
              <Card padding="0">
                <ul className="upload-list" aria-label="Files">
                  {items.map((item) => (
                    <li key={item.key} className="upload-row">
                      <Thumbnail source={item.preview} alt={item.file.name} size="small" />
                      <div className="upload-main">
                        <InlineStack align="space-between" blockAlign="center" gap="200">
                          <Text as="span" fontWeight="semibold" truncate>
                            <span id={`name-${item.key}`}>{item.file.name}</span>
                          </Text>
                          <StatusBadge status={item.status === 'error' ? 'failed' : item.status} label={item.status === 'error' ? 'Not uploaded' : undefined} />
                        </InlineStack>
                        {(item.status === 'uploading' || item.status === 'waiting') && (
                          <ProgressBar progress={Math.round(item.progress * 100)} size="small" ariaLabelledBy={`name-${item.key}`} />
                        )}
                        {item.problem && (
                          <Text as="p" tone="critical" variant="bodySm">
                            {item.problem}
                          </Text>
                        )}
                        {item.status === 'processed' && (
                          <Button variant="plain" url="/gallery">
                            See the result in the gallery
                          </Button>
                        )}
                      </div>
                      {(item.status === 'waiting' || (item.status === 'error' && !item.imageId)) && (
                        <Button
                          variant="tertiary"
                          accessibilityLabel={`Remove ${item.file.name}`}
                          onClick={() => {
                            URL.revokeObjectURL(item.preview);
                            setItems((all) => all.filter((i) => i.key !== item.key));
                          }}
                        >
                          Remove
                        </Button>
                      )}
                    </li>
                  ))}
                </ul>
              </Card>
            )}
            <div role="status" aria-live="polite" className="visually-hidden">
              {announcement}
            </div>
          </BlockStack>
        </Layout.Section>
        <Layout.Section variant="oneThird">
          <Card>
            <BlockStack gap="400">
              <OperationChoice value={operation} onChange={setOperation} />
              {operation === 'remove-bg' && <FinishingFields value={finishing} onChange={setFinishing} />}
              <Button variant="primary" size="large" disabled={!canStart} loading={running} onClick={() => void start()}>
                {pending.length === 0 ? 'Upload images' : pending.length === 1 ? 'Upload 1 image (1 credit)' : `Upload ${pending.length} images (${pending.length} credits)`}
              </Button>
            </BlockStack>
          </Card>
        </Layout.Section>
      </Layout>
    </Page>
  );
}
