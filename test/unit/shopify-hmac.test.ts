import { describe, expect, it } from 'vitest';
import { signWebhookBody, verifyQueryHmac, verifyWebhookHmac } from '../../src/adapters/shopify/hmac.js';

// The example of Shopify's OAuth documentation (secret "hush").
const DOC_QUERY =
  'code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf' +
  '&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173';

describe('Shopify query HMAC', () => {
  it("verifies Shopify's documented example, in any parameter order", () => {
    expect(verifyQueryHmac(DOC_QUERY, 'hush')).toBe(true);
    const reordered = new URLSearchParams(DOC_QUERY);
    const shuffled = new URLSearchParams([...reordered.entries()].reverse());
    expect(verifyQueryHmac(shuffled.toString(), 'hush')).toBe(true);
  });

  it.each([
    ['another secret', DOC_QUERY, 'hush2'],
    ['an empty secret', DOC_QUERY, ''],
    ['a changed value', DOC_QUERY.replace('some-shop', 'evil-shop'), 'hush'],
    ['a truncated hmac', DOC_QUERY.replace(/hmac=([0-9a-f]+)/, (_m, h: string) => `hmac=${h.slice(0, 63)}`), 'hush'],
    ['no hmac', DOC_QUERY.replace(/hmac=[0-9a-f]+&/, ''), 'hush'],
    ['a repeated key', `${DOC_QUERY}&shop=evil.myshopify.com`, 'hush'],
  ])('refuses %s', (_name, query, secret) => {
    expect(verifyQueryHmac(query, secret)).toBe(false);
  });

  it('ignores a `signature` parameter in the message', () => {
    expect(verifyQueryHmac(`${DOC_QUERY}&signature=abc`, 'hush')).toBe(true);
  });
});

describe('Shopify webhook HMAC', () => {
  const body = Buffer.from('{"id":1,"myshopify_domain":"a.myshopify.com"}');
  it('verifies the base64 HMAC of the raw bytes', () => {
    expect(verifyWebhookHmac(body, signWebhookBody(body, 's3cret'), 's3cret')).toBe(true);
  });
  it.each([
    ['another secret', signWebhookBody(body, 'other')],
    ['a truncated value', signWebhookBody(body, 's3cret').slice(0, 30)],
    ['hex instead of base64', Buffer.from(signWebhookBody(body, 's3cret'), 'base64').toString('hex')],
    ['nothing', undefined],
  ])('refuses %s', (_name, header) => {
    expect(verifyWebhookHmac(body, header, 's3cret')).toBe(false);
  });
  it('refuses a body that differs by one byte (e.g. re-serialised JSON)', () => {
    const sig = signWebhookBody(body, 's3cret');
    expect(verifyWebhookHmac(Buffer.from('{"id": 1,"myshopify_domain":"a.myshopify.com"}'), sig, 's3cret')).toBe(false);
  });
});
