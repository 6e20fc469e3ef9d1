import { BlockStack, Button, Card, EmptyState, InlineGrid, InlineStack, Page, SkeletonBodyText, Tabs, Text } from '@shopify/polaris';
import { useState } from 'react';
import { api, ok } from '../api/client';
import { ErrorBanner } from '../components/ErrorBanner';
import { BeforeAfter } from '../components/BeforeAfter';
import { operationLabel } from '../components/OperationFields';
import { StatusBadge } from '../components/StatusBadge';
import { downloadFile } from '../download';
import emptyImage from '../empty.svg';
import { useAction, useResource, useThrottled } from '../hooks';
import { type ImageEvent, useCatchUp, useLiveEvent } from '../live/LiveProvider';

const PAGE = 24;
const TABS = [
  { id: 'processed', content: 'Results' },
  { id: 'failed', content: 'Failed' },
] as const;

type Listed = Awaited<ReturnType<typeof loadPage>>['images'][number];

function loadPage(status: 'processed' | 'failed', cursor?: string) {
  return ok(
    api.GET('/images', { params: { query: { status, limit: PAGE, include_urls: true, ...(cursor ? { cursor } : {}) } } }),
  );
}

export default function Gallery() {
  const [tab, setTab] = useState(0);
  const status = TABS[tab]!.id;
  const [more, setMore] = useState<{ images: Listed[]; cursor: string | null; error?: unknown } | null>(null);
  const first = useResource(() => loadPage(status), [status]);
  const refetch = useThrottled(() => {
    setMore(null);
    void first.reload();
  }, 3000);
  useLiveEvent<ImageEvent>('image', (e) => e.status === status && refetch());
  useCatchUp(refetch);

  const images = [...(first.data?.images ?? []), ...(more?.images ?? [])];
  const cursor = more ? more.cursor : (first.data?.next_cursor ?? null);
  const [loadingMore, setLoadingMore] = useState(false);
  const loadMore = async () => {
    if (!cursor) return;
    setLoadingMore(true);
    try {
      const page = await loadPage(status, cursor);
      setMore((m) => ({ images: [...(m?.images ?? []), ...page.images], cursor: page.next_cursor }));
    } catch (error) {
      setMore((m) => ({ images: m?.images ?? [], cursor, error }));
    } finally {
      setLoadingMore(false);
    }
  };

  return (
    <Page title="Gallery" subtitle="Compare each result with its original and download it.">
      <BlockStack gap="400">
        <Tabs
          tabs={TABS.map((t) => ({ ...t, panelID: `${t.id}-panel` }))}
          selected={tab}
          onSelect={(i) => {
            setTab(i);
            setMore(null);
          }}
        />
        {first.error !== undefined && <ErrorBanner error={first.error} onRetry={() => void first.reload()} />}
        {more?.error !== undefined && <ErrorBanner error={more.error} onRetry={() => void loadMore()} />}
        {!first.data && first.loading ? (
          <Card>
            <SkeletonBodyText lines={6} />
          </Card>
        ) : images.length === 0 && first.data ? (
          <Card>
            <EmptyState
              heading={status === 'processed' ? 'No results yet' : 'No failed images'}
              image={emptyImage}
              action={status === 'processed' ? { content: 'Upload images', url: '/upload' } : undefined}
            >
              <p>{status === 'processed' ? 'Processed images appear here as soon as they are ready.' : 'Failed images are refunded and listed here.'}</p>
            </EmptyState>
          </Card>
        ) : (
          <div id={`${status}-panel`} role="tabpanel">
            <InlineGrid columns={{ xs: 1, sm: 2, lg: 3 }} gap="400">
              {images.map((image) => (
                <GalleryCard key={image.id} image={image} />
              ))}
            </InlineGrid>
          </div>
        )}
        {cursor && (
          <InlineStack align="center">
            <Button onClick={() => void loadMore()} loading={loadingMore}>
              Load more
            </Button>
          </InlineStack>
        )}
      </BlockStack>
    </Page>
  );
}

function GalleryCard({ image }: { image: Listed }) {
  const downloading = useAction();
  const ext = image.processed_path?.split('.').pop() ?? 'png';
  const download = (path: string) =>
    downloading.run(() => downloadFile(path, `${image.filename.replace(/\.[^.]+$/, '')}-${image.operation}.${ext}`));
  return (
    <Card>
      <BlockStack gap="300">
        {image.processed_url && image.original_url ? (
          <BeforeAfter before={image.original_url} after={image.processed_url} name={image.filename} />
        ) : image.original_url ? (
          <img src={image.original_url} alt={image.filename} style={{ width: '100%', height: 220, objectFit: 'contain' }} />
        ) : null}
        <InlineStack align="space-between" blockAlign="center" gap="200">
          <BlockStack>
            <Text as="h3" variant="headingSm" truncate>
              {image.filename}
            </Text>
            <Text as="p" tone="subdued" variant="bodySm">
              {operationLabel(image.operation)} · {new Date(image.updated_at).toLocaleString()}
            </Text>
          </BlockStack>
          <StatusBadge status={image.status} />
        </InlineStack>
        {image.error_message && (
          <Text as="p" tone="critical">
            {image.error_message}
          </Text>
        )}
        {image.processed_path && (
          <Button onClick={() => void download(image.processed_path!)} loading={downloading.busy} accessibilityLabel={`Download the result of ${image.filename}`}>
            Download
          </Button>
        )}
        {downloading.error !== undefined && <ErrorBanner error={downloading.error} onDismiss={downloading.dismiss} />}
      </BlockStack>
    </Card>
  );
}
