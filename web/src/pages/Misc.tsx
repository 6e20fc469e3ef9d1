import { Banner, BlockStack, Box, Button, Card, EmptyState, Page, Text } from '@shopify/polaris';
import { useEffect } from 'react';
import { useLocation } from 'react-router';
import { adminAppUrl, openTop, shopContext } from '../env';
import emptyImage from '../empty.svg';

export function NotFound() {
  return (
    <Page title="Page not found">
      <Card>
        <EmptyState heading="This page does not exist" image={emptyImage} action={{ content: 'Go to Home', url: '/' }}>
          <p>Check the address, or pick a page from the menu.</p>
        </EmptyState>
      </Card>
    </Page>
  );
}

/** Shopify's return from a charge still waiting for its approval (compat /payment-pending). */
export function PaymentPending() {
  return (
    <Page title="Payment pending">
      <Banner tone="info" title="Shopify has not confirmed the payment yet">
        <p>The credits are added as soon as it does, usually within a few minutes; you can keep working meanwhile.</p>
      </Banner>
      <Box paddingBlockStart="400">
        <Button url="/credits">Back to Credits</Button>
      </Box>
    </Page>
  );
}

/** compat /auth/toplevel: the OAuth install must start in the top frame (the admin's window). */
export function TopLevelRedirect() {
  const { shop, host } = shopContext();
  const target = shop ? `/auth/oauth?${new URLSearchParams({ shop, ...(host ? { host } : {}) })}` : null;
  useEffect(() => {
    if (target) openTop(target);
  }, [target]);
  return (
    <Page title="Installing">
      <Card>
        {target ? (
          <BlockStack gap="300">
            <Text as="p">Taking you to Shopify to approve the app…</Text>
            <Button onClick={() => openTop(target)}>Continue to Shopify</Button>
          </BlockStack>
        ) : (
          <Text as="p">The install link is missing the shop. Start again from your Shopify admin.</Text>
        )}
      </Card>
    </Page>
  );
}

/**
 * A page of the embedded app loaded at top level (Shopify's redirect after a
 * charge, or after the OAuth callback): the same page inside the admin.
 */
export function ReturnToAdmin() {
  const { pathname, search } = useLocation();
  const { shop, host } = shopContext();
  const query = new URLSearchParams(search);
  for (const k of ['shop', 'host', 'embedded', 'hmac', 'id_token', 'session', 'timestamp']) query.delete(k);
  const rest = query.toString();
  const target = shop ? adminAppUrl(shop, host, `${pathname === '/' ? '' : pathname}${rest ? `?${rest}` : ''}`) : null;
  useEffect(() => {
    if (target) window.location.replace(target);
  }, [target]);
  return (
    <Page title="Image Studio">
      <Card>
        <BlockStack gap="300">
          <Text as="p">{target ? 'Returning to your Shopify admin…' : 'This app runs inside your Shopify admin.'}</Text>
          <Button url={target ?? 'https://admin.shopify.com'} external={!target}>
            Open the Shopify admin
          </Button>
        </BlockStack>
      </Card>
    </Page>
  );
}

export function OpenFromAdmin() {
  return (
    <Page title="Image Studio">
      <Banner tone="warning" title="Open this app from your Shopify admin">
        <p>The page could not reach Shopify’s App Bridge, which signs you in. Reload it from Apps in your Shopify admin.</p>
      </Banner>
    </Page>
  );
}
