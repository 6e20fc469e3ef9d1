import type { ErrorEvent } from '@sentry/node';
import { describe, expect, it } from 'vitest';
import { scrubBreadcrumb, scrubEvent } from '../../src/adapters/metrics/error-reporting.js';

describe('Sentry event scrubbing', () => {
  it('drops cookies and bodies, and redacts credential headers, query values and extras', () => {
    const event = scrubEvent({
      type: undefined,
      request: {
        url: 'https://api.example.test/auth/callback?code=abc123&shop=a.myshopify.com&hmac=f00',
        method: 'GET',
        query_string: 'code=abc123&shop=a.myshopify.com&state=s3cr3t',
        cookies: { session: 'cookie-jwt' },
        data: { password: 'body-secret' },
        headers: {
          authorization: 'Bearer session-token',
          cookie: 'session=cookie-jwt',
          'x-shopify-hmac-sha256': 'hmac-value',
          'x-shopify-access-token': 'shpat_x',
          'user-agent': 'curl/8',
        },
      },
      extra: { accessToken: 'shpat_y', job: 'image-1', refresh_token: 'r', shop: 'a.myshopify.com' },
    } as ErrorEvent);
    expect(event.request).toEqual({
      url: 'https://api.example.test/auth/callback?code=[redacted]&shop=a.myshopify.com&hmac=[redacted]',
      method: 'GET',
      query_string: 'code=[redacted]&shop=a.myshopify.com&state=[redacted]',
      headers: {
        authorization: '[redacted]',
        cookie: '[redacted]',
        'x-shopify-hmac-sha256': '[redacted]',
        'x-shopify-access-token': '[redacted]',
        'user-agent': 'curl/8',
      },
    });
    expect(event.extra).toEqual({ accessToken: '[redacted]', job: 'image-1', refresh_token: '[redacted]', shop: 'a.myshopify.com' });
  });

  it('redacts credential query values in breadcrumb URLs', () => {
    const crumb = scrubBreadcrumb({ category: 'http', data: { url: 'https://x.test/files/a.png?exp=1&sig=abc', method: 'GET' } });
    expect(crumb.data).toEqual({ url: 'https://x.test/files/a.png?exp=1&sig=[redacted]', method: 'GET' });
  });
});
