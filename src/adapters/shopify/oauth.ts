import { DomainError, UnavailableError } from '../../lib/errors.js';
import { normalizeShopDomain } from '../../lib/shop-domain.js';

/**
 * Shopify's token endpoint (`POST https://{shop}/admin/oauth/access_token`) for
 * the three grants this app uses: authorization code (OAuth compat), token
 * exchange (session token -> expiring offline token) and refresh. Only
 * expiring offline tokens are ever requested (`expiring=1`).
 */

export interface ShopifyAppConfig {
  apiKey: string;
  apiSecret: string;
  scopes: string;
  /** `https://{shop}` in production; tests point it at the fake. */
  adminUrlTemplate: string;
}

export interface OfflineTokenSet {
  accessToken: string;
  scope: string;
  /** Null only for a non-expiring token (never requested, tolerated if returned). */
  expiresAt: Date | null;
  refreshToken: string | null;
  refreshTokenExpiresAt: Date | null;
}

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
export const OFFLINE_TOKEN_TYPE = 'urn:shopify:params:oauth:token-type:offline-access-token';

const TIMEOUT_MS = 10_000;

/** Shopify refused the grant (bad code, session token or refresh token): the caller's credentials are not valid. */
export class ShopifyGrantRejectedError extends DomainError {
  constructor(readonly httpStatus: number) {
    super('unauthenticated', 'Shopify refused the authorization', 'SHOPIFY_AUTH_REJECTED');
  }
}

/** The base URL Shopify calls for this shop go to. The shop must be a valid domain (checked again here). */
export function adminBaseUrl(template: string, shop: string): string {
  if (normalizeShopDomain(shop) !== shop) throw new Error('refusing to call Shopify for an invalid shop domain');
  return template.replace('{shop}', shop);
}

/** Where the browser goes to approve the app: always the real shop over https. */
export function authorizeUrl(app: ShopifyAppConfig, shop: string, redirectUri: string, state: string): string {
  if (normalizeShopDomain(shop) !== shop) throw new Error('invalid shop domain');
  const q = new URLSearchParams({ client_id: app.apiKey, scope: app.scopes, redirect_uri: redirectUri, state });
  return `https://${shop}/admin/oauth/authorize?${q.toString()}`;
}

async function tokenRequest(app: ShopifyAppConfig, shop: string, body: Record<string, string>): Promise<OfflineTokenSet> {
  const url = `${adminBaseUrl(app.adminUrlTemplate, shop)}/admin/oauth/access_token`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ client_id: app.apiKey, client_secret: app.apiSecret, ...body }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'error',
    });
  } catch {
    throw new UnavailableError('Shopify is unreachable');
  }
  if (res.status >= 400 && res.status < 500) {
    await res.body?.cancel().catch(() => {});
    throw new ShopifyGrantRejectedError(res.status);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new UnavailableError('Shopify answered with an error');
  }
  const json = (await res.json().catch(() => null)) as Record<string, unknown> | null;
  if (!json || typeof json.access_token !== 'string' || json.access_token.length === 0) {
    throw new UnavailableError('Shopify answered without an access token');
  }
  const now = Date.now();
  const seconds = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? new Date(now + v * 1000) : null);
  return {
    accessToken: json.access_token,
    scope: typeof json.scope === 'string' ? json.scope : '',
    expiresAt: seconds(json.expires_in),
    refreshToken: typeof json.refresh_token === 'string' && json.refresh_token ? json.refresh_token : null,
    refreshTokenExpiresAt: seconds(json.refresh_token_expires_in),
  };
}

/** OAuth code grant: the code from a verified callback, for an expiring offline token. */
export function exchangeCode(app: ShopifyAppConfig, shop: string, code: string): Promise<OfflineTokenSet> {
  return tokenRequest(app, shop, { code, expiring: '1' });
}

/** Token exchange: a verified session token for an expiring offline token. */
export function exchangeSessionToken(app: ShopifyAppConfig, shop: string, sessionToken: string): Promise<OfflineTokenSet> {
  return tokenRequest(app, shop, {
    grant_type: TOKEN_EXCHANGE_GRANT,
    subject_token: sessionToken,
    subject_token_type: ID_TOKEN_TYPE,
    requested_token_type: OFFLINE_TOKEN_TYPE,
    expiring: '1',
  });
}

/** A new access token and a new refresh token (the old refresh token is spent). */
export function refreshAccessToken(app: ShopifyAppConfig, shop: string, refreshToken: string): Promise<OfflineTokenSet> {
  return tokenRequest(app, shop, { grant_type: 'refresh_token', refresh_token: refreshToken });
}
