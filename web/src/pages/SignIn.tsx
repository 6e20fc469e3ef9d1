import { Banner, BlockStack, Box, Button, Card, Form, FormLayout, Page, Text, TextField } from '@shopify/polaris';
import { useState } from 'react';
import { api, ok } from '../api/client';
import { ErrorBanner } from '../components/ErrorBanner';
import { useAction } from '../hooks';

const SHOP_RE = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;

/** Local mode only: sign in as a demo shop (GET /auth/dev-login sets the session cookie). */
export function SignIn({ onSignedIn }: { onSignedIn(): void }) {
  const [shop, setShop] = useState('demo.myshopify.com');
  const signingIn = useAction();
  const valid = SHOP_RE.test(shop.trim().toLowerCase());
  const submit = () =>
    valid &&
    signingIn.run(async () => {
      await ok(api.GET('/auth/dev-login', { params: { query: { shop: shop.trim().toLowerCase() } } }));
      onSignedIn();
    });

  return (
    <Page narrowWidth title="Sign in">
      <BlockStack gap="400">
        <Banner tone="info" title="Local mode">
          <p>No Shopify store is connected, so you sign in as a demo shop. A new shop starts with free credits.</p>
        </Banner>
        {signingIn.error !== undefined && <ErrorBanner error={signingIn.error} />}
        <Card>
          <Form onSubmit={() => void submit()}>
            <FormLayout>
              <TextField
                label="Shop domain"
                autoComplete="off"
                value={shop}
                onChange={setShop}
                helpText="Any name ending in .myshopify.com"
                error={valid ? undefined : 'Use a name like demo.myshopify.com'}
              />
              <Box>
                <Button submit variant="primary" loading={signingIn.busy} disabled={!valid}>
                  Sign in
                </Button>
              </Box>
            </FormLayout>
          </Form>
        </Card>
        <Text as="p" tone="subdued">
          With SHOPIFY_API_KEY and SHOPIFY_API_SECRET set, the app runs inside the Shopify admin instead.
        </Text>
      </BlockStack>
    </Page>
  );
}
