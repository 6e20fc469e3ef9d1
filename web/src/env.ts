/**
 * How the page learns where it runs: the server writes `app-mode` (local or
 * shopify), `app-sandbox` and `app-max-upload-bytes` into index.html, and in
 * Shopify mode also App Bridge and the `shopify-api-key` meta tag
 * (src/http/routes/web-app.ts, docs/dashboard.md).
 */

const meta = (name: string) => document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content;

export type Mode = 'local' | 'shopify';
export const MODE: Mode = meta('app-mode') === 'shopify' ? 'shopify' : 'local';
/** Embedded in the Shopify admin: session tokens from App Bridge, never cookies. */
export const EMBEDDED = MODE === 'shopify';
export const SANDBOX = meta('app-sandbox') === 'true';
export const API_KEY = meta('shopify-api-key') ?? '';
export const MAX_UPLOAD_BYTES = Number(meta('app-max-upload-bytes') ?? 20 * 1024 * 1024);
export const FRAMED = window.top !== window.self;

/** The part of App Bridge (the `shopify` global of app-bridge.js) this app uses. */
export interface AppBridge {
  idToken(): Promise<string>;
  scopes?: { request(scopes: string[]): Promise<unknown> };
}

declare global {
  interface Window {
    shopify?: AppBridge;
  }
}

export function appBridge(): AppBridge | null {
  return window.shopify && typeof window.shopify.idToken === 'function' ? window.shopify : null;
}

/**
 * Opens a page in the top frame (checkout, OAuth). Embedded, App Bridge turns
 * `open(url, '_top')` into a navigation of the admin's window; at top level it
 * is a plain navigation.
 */
export function openTop(url: string): void {
  if (FRAMED) window.open(url, '_top');
  else window.location.assign(url);
}

function cookie(name: string): string | null {
  const hit = document.cookie.split('; ').find((c) => c.startsWith(`${name}=`));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : null;
}

const SHOP_RE = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;

/** The shop and host Shopify put in the URL (or the readable compat cookies of an OAuth install). */
export function shopContext(): { shop: string | null; host: string | null } {
  const q = new URLSearchParams(window.location.search);
  const shop = (q.get('shop') ?? cookie('shop'))?.toLowerCase() ?? null;
  return { shop: shop && SHOP_RE.test(shop) ? shop : null, host: q.get('host') ?? cookie('host') };
}

/**
 * The app's page inside the admin, for a page of ours that loaded at top level
 * (Shopify's return from a charge, the OAuth callback): `host` is base64 of
 * `admin.shopify.com/store/{name}`.
 */
export function adminAppUrl(shop: string, host: string | null, pathAndQuery: string): string {
  let base = `admin.shopify.com/store/${shop.replace(/\.myshopify\.com$/, '')}`;
  try {
    const decoded = host ? atob(host.replace(/-/g, '+').replace(/_/g, '/')) : '';
    if (/^admin\.shopify\.com\/store\/[a-z0-9-]+$/.test(decoded)) base = decoded;
  } catch {
    // a malformed host: the shop's name gives the same address
  }
  return `https://${base}/apps/${encodeURIComponent(API_KEY)}${pathAndQuery}`;
}
