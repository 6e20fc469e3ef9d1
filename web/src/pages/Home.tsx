import { Banner, BlockStack, Button, Card, InlineGrid, InlineStack, Layout, Page, SkeletonBodyText, Text } from '@shopify/polaris';
import { useEffect, useRef } from 'react';
import { useSearchParams } from 'react-router';
import { useAccount } from '../account';
import { api, ok } from '../api/client';
import { ErrorBanner } from '../components/ErrorBanner';
import { operationLabel } from '../components/OperationFields';
import { useResource, useThrottled } from '../hooks';
import { type ImageEvent, useCatchUp, useLiveEvent } from '../live/LiveProvider';

const loadStats = () => ok(api.POST('/image/dashboard-stats', { body: {} }));

export function Home() {
  const { credits, refresh } = useAccount();
  const [params] = useSearchParams();
  const stats = useResource(loadStats, []);
  const refetch = useThrottled(() => {
    void stats.reload();
    refresh();
  }, 3000);
  useLiveEvent<ImageEvent>('image', refetch);
  useCatchUp(refetch);

  // The first-load benchmark measures until the balance is on screen (bench/scenarios/dashboard.ts).
  const marked = useRef(false);
  useEffect(() => {
    if (!marked.current) {
      marked.current = true;
      performance.mark('credits-visible');
    }
  }, []);

  const added = Number(params.get('credits_added'));
  const declined = params.get('purchase') === 'declined';
  const s = stats.data?.stats;
  const next = nextStep(credits, s?.total ?? null);

  return (
    <Page title="Home">
      <BlockStack gap="400">
        {added > 0 && (
          <Banner tone="success" title={`${added} credits added`}>
            <p>Your purchase went through; the balance below includes it.</p>
          </Banner>
        )}
        {declined && (
          <Banner tone="warning" title="The purchase was declined">
            <p>Nothing was charged. You can pick a plan again on the Credits page.</p>
          </Banner>
        )}
        {stats.error !== undefined && <ErrorBanner error={stats.error} onRetry={() => void stats.reload()} />}
        <InlineGrid columns={{ xs: 1, md: 3 }} gap="400">
          <Card>
            <BlockStack gap="200">
              <Text as="h2" variant="headingSm">
                Credits
              </Text>
              <Text as="p" variant="heading2xl" id="credits-balance">
                {credits}
              </Text>
              <Text as="p" tone="subdued">
                One credit per processed image.
              </Text>
              <InlineStack>
                <Button url="/credits">Buy credits</Button>
              </InlineStack>
            </BlockStack>
          </Card>
          <Card>
            <BlockStack gap="200">
              <Text as="h2" variant="headingSm">
                Images
              </Text>
              {s ? (
                <dl className="counts" aria-label="Images by status">
                  {(
                    [
                      ['Total', s.total],
                      ['Queued', s.queued],
                      ['Processing', s.processing],
                      ['Completed', s.completed],
                      ['Failed', s.failed],
                    ] as const
                  ).map(([label, n]) => (
                    <div key={label} data-count={label.toLowerCase()}>
                      <dt>{label}</dt>
                      <dd>{n}</dd>
                    </div>
                  ))}
                </dl>
              ) : (
                <SkeletonBodyText lines={4} />
              )}
            </BlockStack>
          </Card>
          <Card>
            <BlockStack gap="200">
              <Text as="h2" variant="headingSm">
                What to do next
              </Text>
              <Text as="p">{next.text}</Text>
              <InlineStack>
                <Button variant="primary" url={next.url}>
                  {next.action}
                </Button>
              </InlineStack>
            </BlockStack>
          </Card>
        </InlineGrid>
        <Layout>
          <Layout.Section>
            <Card>
              <BlockStack gap="300">
                <InlineStack align="space-between">
                  <Text as="h2" variant="headingMd">
                    Recent results
                  </Text>
                  <Button variant="plain" url="/gallery">
                    Open the gallery
                  </Button>
                </InlineStack>
                {!stats.data ? (
                  <SkeletonBodyText lines={3} />
                ) : stats.data.recent.length === 0 ? (
                  <Text as="p" tone="subdued">
                    No results yet. Processed images appear here as soon as they are ready.
                  </Text>
                ) : (
                  <ul className="thumbs">
                    {stats.data.recent.map((r) => (
                      <li key={r.id}>
                        {r.url && <img src={r.url} alt={`Result: ${operationLabel(r.operation)}`} width={120} height={120} />}
                        <Text as="span" variant="bodySm">
                          {operationLabel(r.operation)}
                        </Text>
                      </li>
                    ))}
                  </ul>
                )}
              </BlockStack>
            </Card>
          </Layout.Section>
        </Layout>
      </BlockStack>
    </Page>
  );
}

function nextStep(credits: number, total: number | null): { text: string; action: string; url: string } {
  if (credits === 0) return { text: 'You are out of credits: buy a plan to keep editing images.', action: 'Buy credits', url: '/credits' };
  if (total === 0) return { text: 'Upload a product photo and remove its background in seconds.', action: 'Upload images', url: '/upload' };
  return { text: 'Fix the photos of your products in place, one by one or in a batch.', action: 'Edit product images', url: '/products' };
}
