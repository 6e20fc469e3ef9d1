import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Shopify's two HMAC formats, compared in constant time.
 * - Query (OAuth callback, app URLs): hex HMAC-SHA256 over the query without
 *   `hmac` and `signature`, keys sorted, `k=v` (URL-encoded) joined by `&`.
 * - Webhooks: base64 HMAC-SHA256 over the raw body.
 */

/** The message Shopify signs for a query: sorted `k=v` pairs without hmac/signature. */
export function queryMessage(params: Iterable<[string, string]>): string {
  const entries = [...params].filter(([k]) => k !== 'hmac' && k !== 'signature');
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return new URLSearchParams(entries).toString();
}

export function signQuery(params: Iterable<[string, string]>, secret: string): string {
  return createHmac('sha256', secret).update(queryMessage(params)).digest('hex');
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * True when the raw query string carries a valid `hmac`. A repeated key is
 * refused (Shopify never sends one, and it would make the message ambiguous).
 */
export function verifyQueryHmac(rawQuery: string, secret: string): boolean {
  if (!secret) return false;
  const params = new URLSearchParams(rawQuery);
  const keys = [...params.keys()];
  if (new Set(keys).size !== keys.length) return false;
  const given = params.get('hmac');
  if (!given || !/^[0-9a-f]{64}$/i.test(given)) return false;
  const expected = signQuery(params.entries(), secret);
  return safeEqual(Buffer.from(given.toLowerCase(), 'hex'), Buffer.from(expected, 'hex'));
}

export function signWebhookBody(body: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('base64');
}

export function verifyWebhookHmac(rawBody: Buffer, header: string | undefined, secret: string): boolean {
  if (!secret || typeof header !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(header)) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return safeEqual(Buffer.from(header, 'base64'), expected);
}
