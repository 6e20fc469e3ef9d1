import { createHmac } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createShopifyAuth } from '../../src/adapters/shopify/auth.js';

const auth = (secret: string) =>
  createShopifyAuth({
    apiKey: 'key',
    apiSecret: secret,
    scopes: 'read_products',
    apiVersion: '2026-10',
    appUrl: 'https://api.example.test',
    adminUrlTemplate: 'https://{shop}',
  });

// The example of Shopify's OAuth documentation (secret "hush"), signed at 1337178173.
const DOC_QUERY =
  'code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf' +
  '&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173';
const DOC_TIME_MS = 1337178173 * 1000;

describe('Shopify query HMAC (the library, and a refusal of repeated keys)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  const at = (ms: number) => vi.useFakeTimers({ now: ms, toFake: ['Date'] });

  it("verifies Shopify's documented example, in any parameter order", async () => {
    at(DOC_TIME_MS + 5000);
    await expect(auth('hush').verifyCallbackQuery(DOC_QUERY)).resolves.toBe(true);
    const shuffled = new URLSearchParams([...new URLSearchParams(DOC_QUERY).entries()].reverse());
    await expect(auth('hush').verifyCallbackQuery(shuffled.toString())).resolves.toBe(true);
  });

  it.each([
    ['another secret', DOC_QUERY, 'hush2'],
    ['a changed value', DOC_QUERY.replace('some-shop', 'evil-shop'), 'hush'],
    ['a truncated hmac', DOC_QUERY.replace(/hmac=([0-9a-f]+)/, (_m, h: string) => `hmac=${h.slice(0, 63)}`), 'hush'],
    ['no hmac', DOC_QUERY.replace(/hmac=[0-9a-f]+&/, ''), 'hush'],
    ['a repeated key', `${DOC_QUERY}&shop=evil.myshopify.com`, 'hush'],
    ['no timestamp', DOC_QUERY.replace(/&timestamp=\d+/, ''), 'hush'],
  ])('refuses %s', async (_name, query, secret) => {
    at(DOC_TIME_MS + 5000);
    await expect(auth(secret).verifyCallbackQuery(query)).resolves.toBe(false);
  });

  it('cannot be set up without a secret', () => {
    expect(() => auth('')).toThrow(/apiSecretKey/);
  });

  it('refuses a correctly signed query more than 90 s old or ahead', async () => {
    at(DOC_TIME_MS + 91_000);
    await expect(auth('hush').verifyCallbackQuery(DOC_QUERY)).resolves.toBe(false);
    at(DOC_TIME_MS - 91_000);
    await expect(auth('hush').verifyCallbackQuery(DOC_QUERY)).resolves.toBe(false);
  });

  it('ignores a `signature` parameter in the message', async () => {
    at(DOC_TIME_MS);
    await expect(auth('hush').verifyCallbackQuery(`${DOC_QUERY}&signature=abc`)).resolves.toBe(true);
  });
});

describe('Shopify webhook HMAC (the library)', () => {
  const body = '{"id":1,"myshopify_domain":"a.myshopify.com"}';
  const sign = (payload: string, secret: string) => createHmac('sha256', secret).update(payload).digest('base64');
  /** A real request as Shopify sends it: every header of a delivery. */
  const delivery = (hmac: string | undefined) => {
    const request = new IncomingMessage(new Socket());
    request.method = 'POST';
    request.url = '/webhooks/uninstall';
    request.headers = {
      'content-type': 'application/json',
      'x-shopify-topic': 'app/uninstalled',
      'x-shopify-shop-domain': 'a.myshopify.com',
      'x-shopify-api-version': '2026-10',
      'x-shopify-webhook-id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
      'x-shopify-event-id': '98880550-7158-44d4-b7cd-2c97c8a091b5',
      'x-shopify-triggered-at': '2026-01-02T03:04:05.123456789Z',
      ...(hmac ? { 'x-shopify-hmac-sha256': hmac } : {}),
    };
    return request;
  };

  it('verifies the base64 HMAC of the raw bytes and reads the headers', async () => {
    const result = await auth('s3cret').validateWebhook(body, delivery(sign(body, 's3cret')));
    expect(result).toMatchObject({
      valid: true,
      domain: 'a.myshopify.com',
      webhookId: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
      eventId: '98880550-7158-44d4-b7cd-2c97c8a091b5',
    });
  });

  it.each([
    ['another secret', sign(body, 'other'), 'invalid_hmac'],
    ['a truncated value', sign(body, 's3cret').slice(0, 30), 'invalid_hmac'],
    ['hex instead of base64', Buffer.from(sign(body, 's3cret'), 'base64').toString('hex'), 'invalid_hmac'],
    ['nothing', undefined, 'missing_hmac'],
  ])('refuses %s', async (_name, header, reason) => {
    await expect(auth('s3cret').validateWebhook(body, delivery(header))).resolves.toMatchObject({ valid: false, reason });
  });

  it('refuses a body that differs by one byte (e.g. re-serialised JSON)', async () => {
    const sig = sign(body, 's3cret');
    const reserialised = '{"id": 1,"myshopify_domain":"a.myshopify.com"}';
    await expect(auth('s3cret').validateWebhook(reserialised, delivery(sig))).resolves.toMatchObject({ valid: false });
  });
});
