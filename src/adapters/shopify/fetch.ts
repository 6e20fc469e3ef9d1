import { normalizeShopDomain } from '../../lib/shop-domain.js';

/**
 * The one way this app calls Shopify over HTTP (the official library, the
 * Admin GraphQL client and the code grant all use it). Calls are built for
 * `https://{shop}/...`; SHOPIFY_ADMIN_URL_TEMPLATE says where that origin
 * really is (`https://{shop}` in production, the fake Shopify in tests).
 * Only a valid shop domain is ever called, with a deadline, and redirects are
 * refused (a token request must not be replayed elsewhere).
 */

const TIMEOUT_MS = 15_000;

/** The base URL that stands for `https://{shop}`. The shop must be a valid domain (checked again here). */
export function adminBaseUrl(template: string, shop: string): string {
  if (normalizeShopDomain(shop) !== shop) throw new Error('refusing to call Shopify for an invalid shop domain');
  return template.replace('{shop}', shop);
}

export type ShopifyFetch = (url: string | URL | Request, init?: RequestInit) => Promise<Response>;

export function createShopifyFetch(adminUrlTemplate: string): ShopifyFetch {
  return async (input, init) => {
    // Every caller passes a URL string; a Request would carry headers and a body this would drop.
    if (input instanceof Request) throw new Error('shopifyFetch takes a URL, not a Request');
    const url = new URL(input);
    if (url.protocol !== 'https:' || url.port || url.username || url.password) {
      throw new Error('refusing to call Shopify at an unexpected URL');
    }
    const target = adminBaseUrl(adminUrlTemplate, url.hostname) + url.pathname + url.search;
    return fetch(target, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
  };
}
