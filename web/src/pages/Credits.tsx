import { Banner, BlockStack, Button, Card, DataTable, InlineGrid, InlineStack, Layout, Page, SkeletonBodyText, Text } from '@shopify/polaris';
import { useState } from 'react';
import { useAccount } from '../account';
import { api, ok } from '../api/client';
import { ErrorBanner } from '../components/ErrorBanner';
import { openTop, SANDBOX } from '../env';
import { useResource } from '../hooks';

const REASONS: Record<string, string> = {
  grant: 'Welcome credits',
  purchase: 'Purchase',
  debit: 'Image processed',
  refund: 'Refund (failed image)',
  adjustment: 'Adjustment',
};

type Transactions = Awaited<ReturnType<typeof loadTransactions>>;
const loadTransactions = (cursor?: string) =>
  ok(api.GET('/credits/transactions', { params: { query: { limit: 20, ...(cursor ? { cursor } : {}) } } }));

export default function Credits() {
  const { credits } = useAccount();
  const plans = useResource(() => ok(api.GET('/credits/plans')), []);
  const first = useResource(() => loadTransactions(), []);
  const [more, setMore] = useState<Transactions | null>(null);
  const [buying, setBuying] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();

  const buy = async (planId: string) => {
    setBuying(planId);
    setError(undefined);
    try {
      const { confirmationUrl } = await ok(api.POST('/credits/checkout', { body: { planId } }));
      // Shopify's approval page (or the sandbox's confirm URL) opens in the top frame;
      // Shopify then returns to /credits/confirm, which lands on Home with the credits added.
      openTop(confirmationUrl);
    } catch (err) {
      setError(err);
      setBuying(null);
    }
  };

  const rows = [...(first.data?.transactions ?? []), ...(more?.transactions ?? [])];
  const cursor = more ? more.next_cursor : (first.data?.next_cursor ?? null);
  const money = (price: string | number, currency: string, maximumFractionDigits?: number) =>
    new Intl.NumberFormat(undefined, { style: 'currency', currency, ...(maximumFractionDigits ? { maximumFractionDigits } : {}) }).format(Number(price));

  return (
    <Page title="Credits" subtitle={`Balance: ${credits} credits`}>
      <Layout>
        <Layout.Section>
          <BlockStack gap="400">
            {SANDBOX && (
              <Banner tone="info" title="Test mode">
                <p>Purchases are simulated: nothing is charged and the credits are added at once.</p>
              </Banner>
            )}
            {error !== undefined && <ErrorBanner error={error} onDismiss={() => setError(undefined)} />}
            {plans.error !== undefined && <ErrorBanner error={plans.error} onRetry={() => void plans.reload()} />}
            <InlineGrid columns={{ xs: 1, sm: 2, lg: 4 }} gap="400">
              {(plans.data?.plans ?? []).map((plan) => (
                <Card key={plan.id}>
                  <BlockStack gap="200">
                    <Text as="h2" variant="headingLg">
                      {plan.credits} credits
                    </Text>
                    <Text as="p" variant="headingMd">
                      {money(plan.price, plan.currency)}
                    </Text>
                    <Text as="p" tone="subdued">
                      {money(Number(plan.price) / plan.credits, plan.currency, 3)} per image
                    </Text>
                    <Button
                      variant="primary"
                      loading={buying === plan.id}
                      disabled={buying !== null && buying !== plan.id}
                      onClick={() => void buy(plan.id)}
                      accessibilityLabel={`Buy ${plan.credits} credits for ${money(plan.price, plan.currency)}`}
                    >
                      Buy
                    </Button>
                  </BlockStack>
                </Card>
              ))}
            </InlineGrid>
            {plans.loading && !plans.data && (
              <Card>
                <SkeletonBodyText lines={3} />
              </Card>
            )}
          </BlockStack>
        </Layout.Section>
        <Layout.Section>
          <Card>
            <BlockStack gap="300">
              <Text as="h2" variant="headingMd">
                Transactions
              </Text>
              {first.error !== undefined && <ErrorBanner error={first.error} onRetry={() => void first.reload()} />}
              {!first.data ? (
                <SkeletonBodyText lines={4} />
              ) : rows.length === 0 ? (
                <Text as="p" tone="subdued">
                  No transactions yet.
                </Text>
              ) : (
                <DataTable
                  columnContentTypes={['text', 'text', 'numeric', 'numeric']}
                  headings={['Date', 'What', 'Change', 'Balance']}
                  rows={rows.map((t) => [
                    new Date(t.created_at).toLocaleString(),
                    REASONS[t.reason] ?? t.reason,
                    t.delta > 0 ? `+${t.delta}` : String(t.delta),
                    t.balance_after,
                  ])}
                />
              )}
              {cursor && (
                <InlineStack align="center">
                  <Button onClick={() => void loadTransactions(cursor).then((page) => setMore((m) => ({ transactions: [...(m?.transactions ?? []), ...page.transactions], next_cursor: page.next_cursor })), setError)}>
                    Load more
                  </Button>
                </InlineStack>
              )}
            </BlockStack>
          </Card>
        </Layout.Section>
      </Layout>
    </Page>
  );
}
