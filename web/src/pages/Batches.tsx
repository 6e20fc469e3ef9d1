import {
  Banner,
  BlockStack,
  Button,
  Card,
  Checkbox,
  ChoiceList,
  EmptyState,
  InlineStack,
  Layout,
  Page,
  ProgressBar,
  SkeletonBodyText,
  Text,
  TextField,
} from '@shopify/polaris';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { useAccount } from '../account';
import { type ApplyMode, type Batch, type BatchScope, catalogue, DEFAULT_FINISHING, type Finishing, type Operation } from '../api/pending';
import { ErrorBanner } from '../components/ErrorBanner';
import { ApplyChoice, FinishingFields, finishingValid, OperationChoice, operationLabel } from '../components/OperationFields';
import { StatusBadge } from '../components/StatusBadge';
import emptyImage from '../empty.svg';
import { useAction, useResource, useThrottled } from '../hooks';
import { useCatchUp, useLiveEvent } from '../live/LiveProvider';

type ScopeKind = 'all' | 'collection' | 'products';

export default function Batches() {
  const { refresh } = useAccount();
  const list = useResource(() => catalogue.batches(), []);
  const refetch = useThrottled(() => void list.reload(), 3000);
  const upsert = (batch: Batch) =>
    list.setData((d) => {
      const batches = d?.batches ?? [];
      return { ...d, batches: batches.some((b) => b.id === batch.id) ? batches.map((b) => (b.id === batch.id ? batch : b)) : [batch, ...batches] };
    });
  useLiveEvent<Batch>('batch', (b) => {
    if (b && typeof b.id === 'string' && b.counts) upsert(b);
    else refetch();
    if (b?.status === 'cancelled' || b?.status === 'done' || b?.status === 'paused') refresh();
  });
  useCatchUp(refetch);

  return (
    <Page title="Batches" subtitle="Run one operation over many products; progress is live and failures are refunded.">
      <Layout>
        <Layout.Section>
          <BlockStack gap="400">
            {list.error !== undefined && <ErrorBanner error={list.error} onRetry={() => void list.reload()} />}
            {!list.data && list.loading ? (
              <Card>
                <SkeletonBodyText lines={6} />
              </Card>
            ) : list.data && list.data.batches.length === 0 ? (
              <Card>
                <EmptyState heading="No batches yet" image={emptyImage}>
                  <p>Start one on the right: over chosen products, a collection or the whole catalogue.</p>
                </EmptyState>
              </Card>
            ) : (
              list.data?.batches.map((b) => <BatchCard key={b.id} batch={b} onChange={upsert} />)
            )}
          </BlockStack>
        </Layout.Section>
        <Layout.Section variant="oneThird">
          <StartBatch onStarted={upsert} />
        </Layout.Section>
      </Layout>
    </Page>
  );
}

function BatchCard({ batch, onChange }: { batch: Batch; onChange(b: Batch): void }) {
  const navigate = useNavigate();
  const cancelling = useAction();
  const c = batch.counts;
  const finished = c.processed + c.applied + c.failed;
  const percent = c.total ? Math.round((finished / c.total) * 100) : 0;
  const scope = 'all' in batch.scope ? 'Whole catalogue' : 'collection_id' in batch.scope ? `Collection ${batch.scope.collection_id}` : `${batch.scope.product_ids.length} products`;
  const cancel = () => cancelling.run(async () => onChange((await catalogue.cancelBatch(batch.id)).batch));
  const labelId = `batch-${batch.id}`;
  return (
    <Card>
      <BlockStack gap="300">
        <InlineStack align="space-between" blockAlign="center">
          <Text as="h2" variant="headingMd" id={labelId}>
            {operationLabel(batch.operation)}: {scope}
          </Text>
          <StatusBadge status={batch.status} />
        </InlineStack>
        <ProgressBar progress={percent} ariaLabelledBy={labelId} tone={batch.status === 'paused' ? 'critical' : 'highlight'} />
        <Text as="p" tone="subdued">
          {finished} of {c.total} done · {c.queued} queued · {c.processing} processing · {c.applied} applied · {c.failed} failed ({c.refunded} refunded)
        </Text>
        {batch.status === 'paused' && batch.stop_reason === 'INSUFFICIENT_CREDITS' && (
          <Banner tone="warning" title="Paused: out of credits" action={{ content: 'Buy credits', onAction: () => navigate('/credits') }}>
            <p>The rest of the batch waits for credits.</p>
          </Banner>
        )}
        {batch.status === 'paused' && batch.stop_reason && batch.stop_reason !== 'INSUFFICIENT_CREDITS' && (
          <Text as="p" tone="caution">
            Paused: {batch.stop_reason}
          </Text>
        )}
        {cancelling.error !== undefined && <ErrorBanner error={cancelling.error} onDismiss={cancelling.dismiss} />}
        {(batch.status === 'running' || batch.status === 'paused') && (
          <InlineStack>
            <Button tone="critical" onClick={() => void cancel()} loading={cancelling.busy}>
              Cancel batch
            </Button>
          </InlineStack>
        )}
      </BlockStack>
    </Card>
  );
}

function StartBatch({ onStarted }: { onStarted(b: Batch): void }) {
  const [kind, setKind] = useState<ScopeKind>('products');
  const [collection, setCollection] = useState('');
  const [query, setQuery] = useState('');
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [operation, setOperation] = useState<Operation>('remove-bg');
  const [finishing, setFinishing] = useState<Finishing>(DEFAULT_FINISHING);
  const [apply, setApply] = useState<ApplyMode>('none');
  const starting = useAction();
  const products = useResource(() => (kind === 'products' ? catalogue.products({ query, limit: 20 }) : Promise.resolve(null)), [kind, query]);

  const scope: BatchScope | null =
    kind === 'all' ? { all: true } : kind === 'collection' ? (collection.trim() ? { collection_id: collection.trim() } : null) : chosen.size ? { product_ids: [...chosen] } : null;
  const start = (chosenScope: BatchScope) =>
    starting.run(async () => {
      onStarted((await catalogue.startBatch({ scope: chosenScope, operation, apply, ...(operation === 'remove-bg' ? { options: finishing } : {}) })).batch);
      setChosen(new Set());
    });

  return (
    <Card>
      <BlockStack gap="400">
        <Text as="h2" variant="headingMd">
          New batch
        </Text>
        {starting.error !== undefined && <ErrorBanner error={starting.error} onDismiss={starting.dismiss} />}
        <ChoiceList
          title="Which products"
          choices={[
            { label: 'Chosen products', value: 'products' },
            { label: 'A collection', value: 'collection' },
            { label: 'The whole catalogue', value: 'all' },
          ]}
          selected={[kind]}
          onChange={([v]) => v && setKind(v as ScopeKind)}
        />
        {kind === 'collection' && (
          <TextField label="Collection ID" autoComplete="off" placeholder="gid://shopify/Collection/123" value={collection} onChange={setCollection} />
        )}
        {kind === 'products' && (
          <BlockStack gap="200">
            <TextField label="Find products" autoComplete="off" value={query} onChange={setQuery} />
            {products.error !== undefined && <ErrorBanner error={products.error} onRetry={() => void products.reload()} />}
            {products.data?.products.map((p) => (
              <Checkbox
                key={p.id}
                label={`${p.title} (${p.media.length} images)`}
                checked={chosen.has(p.id)}
                onChange={(on) =>
                  setChosen((s) => {
                    const next = new Set(s);
                    if (on) next.add(p.id);
                    else next.delete(p.id);
                    return next;
                  })
                }
              />
            ))}
          </BlockStack>
        )}
        <OperationChoice value={operation} onChange={setOperation} />
        {operation === 'remove-bg' && <FinishingFields value={finishing} onChange={setFinishing} />}
        <ApplyChoice value={apply} onChange={setApply} />
        <Text as="p" tone="subdued">
          One credit per image, taken as the batch goes; it pauses when credits run out.
        </Text>
        <Button variant="primary" disabled={!scope || (operation === 'remove-bg' && !finishingValid(finishing))} loading={starting.busy} onClick={() => scope && void start(scope)}>
          Start batch
        </Button>
      </BlockStack>
    </Card>
  );
}
