import {
  BlockStack,
  Button,
  ButtonGroup,
  Card,
  Checkbox,
  EmptyState,
  Form,
  InlineGrid,
  InlineStack,
  Layout,
  Modal,
  Page,
  SkeletonBodyText,
  Text,
  TextField,
} from '@shopify/polaris';
import { useState } from 'react';
import { useAccount } from '../account';
import { api, ok } from '../api/client';
import { requestJson } from '../api/http';
import {
  type ApplyMode,
  catalogue,
  DEFAULT_FINISHING,
  type Finishing,
  type HistoryEntry,
  type Media,
  type Operation,
  type Product,
} from '../api/pending';
import { BeforeAfter } from '../components/BeforeAfter';
import { ErrorBanner } from '../components/ErrorBanner';
import { ApplyChoice, FinishingFields, finishingValid, OperationChoice, operationLabel } from '../components/OperationFields';
import { StatusBadge } from '../components/StatusBadge';
import emptyImage from '../empty.svg';
import { useAction, useResource, useThrottled } from '../hooks';
import { type ImageEvent, useCatchUp, useLiveEvent } from '../live/LiveProvider';

const PAGE = 20;

export default function Products() {
  const { credits, setCredits, refresh } = useAccount();
  const [query, setQuery] = useState('');
  const [search, setSearch] = useState('');
  const [more, setMore] = useState<{ products: Product[]; cursor: string | null } | null>(null);
  const first = useResource(() => catalogue.products({ query: search, limit: PAGE }), [search]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [operation, setOperation] = useState<Operation>('remove-bg');
  const [finishing, setFinishing] = useState<Finishing>(DEFAULT_FINISHING);
  const [apply, setApply] = useState<ApplyMode>('none');
  // Processing has its button; applying, restoring and paging report their errors in the same banner.
  const processing = useAction();
  const acting = useAction();
  const [review, setReview] = useState<{ product: Product; media: Media } | null>(null);
  const [history, setHistory] = useState<{ product: Product; media: Media } | null>(null);

  const products = [...(first.data?.products ?? []), ...(more?.products ?? [])];
  const cursor = more ? more.cursor : (first.data?.next_cursor ?? null);

  /** Changes one media wherever it is listed. */
  const patchMedia = (id: string, patch: Partial<Media>) => {
    const edit = (list: Product[]) => list.map((p) => ({ ...p, media: p.media.map((m) => (m.id === id ? { ...m, ...patch } : m)) }));
    first.setData((d) => d && { ...d, products: edit(d.products) });
    setMore((m) => m && { ...m, products: edit(m.products) });
  };
  const refetch = useThrottled(() => {
    setMore(null);
    void first.reload();
    refresh();
  }, 3000);
  useLiveEvent<Partial<Media> & { id?: string }>('media', (m) => {
    if (m.id && m.state) patchMedia(m.id, m);
    else refetch();
  });
  useLiveEvent<ImageEvent>('image', (e) => {
    if (products.some((p) => p.media.some((m) => m.image_id === e.id))) refetch();
  });
  useCatchUp(refetch);

  const toggle = (id: string, on: boolean) =>
    setSelected((s) => {
      const next = new Set(s);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });

  const process = () =>
    processing.run(async () => {
      const answer = await catalogue.process({
        media_ids: [...selected],
        operation,
        apply,
        ...(operation === 'remove-bg' ? { options: finishing } : {}),
      });
      setCredits(answer.remaining_credits);
      for (const image of answer.images) patchMedia(image.media_id, { image_id: image.id, state: image.status as Media['state'] });
      setSelected(new Set());
    });
  const act = (media: Media, action: () => Promise<{ media: Media }>) =>
    acting.run(async () => patchMedia(media.id, (await action()).media));
  const error = processing.error ?? acting.error;

  const n = selected.size;
  return (
    <Page title="Products" subtitle="Edit your product photos in place; the original is kept for an exact restore.">
      <Layout>
        <Layout.Section>
          <BlockStack gap="400">
            {error !== undefined && (
              <ErrorBanner
                error={error}
                onDismiss={() => {
                  processing.dismiss();
                  acting.dismiss();
                }}
              />
            )}
            {first.error !== undefined && <ErrorBanner error={first.error} onRetry={() => void first.reload()} />}
            <Card>
              <Form
                onSubmit={() => {
                  setMore(null);
                  setSearch(query.trim());
                }}
              >
                <TextField
                  label="Search products"
                  labelHidden
                  placeholder="Search products"
                  autoComplete="off"
                  value={query}
                  onChange={setQuery}
                  connectedRight={<Button submit>Search</Button>}
                />
              </Form>
            </Card>
            {!first.data && first.loading ? (
              <Card>
                <SkeletonBodyText lines={8} />
              </Card>
            ) : first.data && products.length === 0 ? (
              <Card>
                <EmptyState heading={search ? 'No product matches' : 'No products yet'} image={emptyImage}>
                  <p>{search ? 'Try another search.' : 'Products of your store appear here with their images.'}</p>
                </EmptyState>
              </Card>
            ) : (
              products.map((product) => (
                <Card key={product.id}>
                  <BlockStack gap="300">
                    <InlineStack align="space-between">
                      <Text as="h2" variant="headingMd">
                        {product.title}
                      </Text>
                      <StatusBadge status={product.status.toLowerCase()} label={product.status.toLowerCase()} />
                    </InlineStack>
                    {product.media.length === 0 ? (
                      <Text as="p" tone="subdued">
                        This product has no images.
                      </Text>
                    ) : (
                      <InlineGrid columns={{ xs: 2, sm: 3, md: 4 }} gap="300">
                        {product.media.map((media, i) => {
                          const name = media.alt || `${product.title}, image ${i + 1}`;
                          const working = media.state === 'queued' || media.state === 'processing';
                          return (
                            <div key={media.id} className="media-tile">
                              <img src={media.url} alt={name} />
                              <InlineStack align="space-between" blockAlign="center">
                                <Checkbox label={`Select ${name}`} labelHidden checked={selected.has(media.id)} disabled={working} onChange={(on) => toggle(media.id, on)} />
                                <StatusBadge status={media.state} />
                              </InlineStack>
                              <ButtonGroup>
                                {media.state === 'processed' && media.image_id && (
                                  <Button size="slim" onClick={() => setReview({ product, media })} accessibilityLabel={`Review the result for ${name}`}>
                                    Review
                                  </Button>
                                )}
                                {media.state === 'applied' && (
                                  <Button size="slim" onClick={() => void act(media, () => catalogue.restore(media.id))} accessibilityLabel={`Restore the original of ${name}`}>
                                    Restore
                                  </Button>
                                )}
                                <Button size="slim" variant="plain" onClick={() => setHistory({ product, media })} accessibilityLabel={`History of ${name}`}>
                                  History
                                </Button>
                              </ButtonGroup>
                            </div>
                          );
                        })}
                      </InlineGrid>
                    )}
                  </BlockStack>
                </Card>
              ))
            )}
            {cursor && (
              <InlineStack align="center">
                <Button
                  loading={acting.busy}
                  onClick={() =>
                    void acting.run(async () => {
                      const page = await catalogue.products({ query: search, limit: PAGE, cursor });
                      setMore((m) => ({ products: [...(m?.products ?? []), ...page.products], cursor: page.next_cursor }));
                    })
                  }
                >
                  Load more
                </Button>
              </InlineStack>
            )}
          </BlockStack>
        </Layout.Section>
        <Layout.Section variant="oneThird">
          <Card>
            <BlockStack gap="400">
              <Text as="h2" variant="headingMd">
                {n === 0 ? 'Select images to edit' : `${n} selected`}
              </Text>
              <OperationChoice value={operation} onChange={setOperation} />
              {operation === 'remove-bg' && <FinishingFields value={finishing} onChange={setFinishing} />}
              <ApplyChoice value={apply} onChange={setApply} />
              {n > credits && (
                <Text as="p" tone="critical">
                  {n} images need {n} credits; you have {credits}.
                </Text>
              )}
              <Button variant="primary" disabled={n === 0 || (operation === 'remove-bg' && !finishingValid(finishing))} loading={processing.busy} onClick={() => void process()}>
                {n === 0 ? 'Process images' : n === 1 ? 'Process 1 image (1 credit)' : `Process ${n} images (${n} credits)`}
              </Button>
            </BlockStack>
          </Card>
        </Layout.Section>
      </Layout>
      {review && (
        <ReviewModal
          {...review}
          onClose={() => setReview(null)}
          onApply={(mode) => {
            const { media } = review;
            setReview(null);
            void act(media, () => catalogue.apply(media.id, { image_id: media.image_id!, mode }));
          }}
        />
      )}
      {history && <HistoryModal {...history} onClose={() => setHistory(null)} />}
    </Page>
  );
}

/** The result next to the current image, before it is applied. */
function ReviewModal({ product, media, onClose, onApply }: { product: Product; media: Media; onClose(): void; onApply(mode: 'replace' | 'add'): void }) {
  const result = useResource(async () => {
    const image = await ok(api.GET('/images/{id}', { params: { path: { id: media.image_id! } } }));
    if (!image.processed_path) return null;
    // The storage path is the rest of the URL (a `{*}` parameter openapi-fetch does not fill in), encoded once.
    const { signed_url } = await requestJson<{ signed_url: string }>('GET', `/fileserve/signed-url/${encodeURIComponent(image.processed_path)}`);
    return { url: signed_url, operation: image.operation };
  }, [media.image_id]);
  return (
    <Modal
      open
      onClose={onClose}
      title={`Review: ${product.title}`}
      primaryAction={{ content: 'Replace the image', onAction: () => onApply('replace'), disabled: !result.data }}
      secondaryActions={[
        { content: 'Add beside it', onAction: () => onApply('add'), disabled: !result.data },
        { content: 'Not now', onAction: onClose },
      ]}
    >
      <Modal.Section>
        {result.error !== undefined ? (
          <ErrorBanner error={result.error} onRetry={() => void result.reload()} />
        ) : result.data ? (
          <BlockStack gap="200">
            <BeforeAfter before={media.url} after={result.data.url} name={media.alt || product.title} height={360} />
            <Text as="p" tone="subdued">
              {operationLabel(result.data.operation)}. The original stays stored: restore it any time.
            </Text>
          </BlockStack>
        ) : (
          <SkeletonBodyText lines={6} />
        )}
      </Modal.Section>
    </Modal>
  );
}

function HistoryModal({ product, media, onClose }: { product: Product; media: Media; onClose(): void }) {
  const history = useResource(() => catalogue.history(media.id), [media.id]);
  const when = (t: string | null) => (t ? new Date(t).toLocaleString() : '–');
  return (
    <Modal open onClose={onClose} title={`History: ${media.alt || product.title}`} secondaryActions={[{ content: 'Close', onAction: onClose }]}>
      <Modal.Section>
        {history.error !== undefined ? (
          <ErrorBanner error={history.error} onRetry={() => void history.reload()} />
        ) : !history.data ? (
          <SkeletonBodyText lines={4} />
        ) : history.data.history.length === 0 ? (
          <Text as="p">Never processed.</Text>
        ) : (
          <ol className="history">
            {history.data.history.map((h: HistoryEntry) => (
              <li key={h.image_id}>
                <InlineStack gap="200" blockAlign="center">
                  <Text as="span" fontWeight="semibold">
                    {operationLabel(h.operation)}
                  </Text>
                  <StatusBadge status={h.state} />
                </InlineStack>
                <Text as="p" tone="subdued" variant="bodySm">
                  Made {when(h.created_at)} · applied {when(h.applied_at)} · restored {when(h.restored_at)}
                </Text>
              </li>
            ))}
          </ol>
        )}
      </Modal.Section>
    </Modal>
  );
}
