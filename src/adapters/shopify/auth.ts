import '@shopify/shopify-api/adapters/node';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import {
  type ApiVersion,
  HttpResponseError,
  HttpRetriableError,
  InvalidJwtError,
  LogSeverity,
  RequestedTokenType,
  type Session,
  shopifyApi,
} from '@shopify/shopify-api';
import { setAbstractFetchFunc } from '@shopify/shopify-api/runtime';
import { DomainError, UnavailableError } from '../../lib/errors.js';
import { normalizeShopDomain } from '../../lib/shop-domain.js';
import { createShopifyFetch, type ShopifyFetch } from './fetch.js';

/**
 * The one module that owns the official library (@shopify/shopify-api):
 * session tokens, token exchange, refresh, query HMAC and webhook validation
 * are the library's; on top of it, our stricter rules (a session token's
 * `iss` and `dest` name the same shop and it has an `exp`; a callback query
 * has no repeated key) and the OAuth code grant's token request, which the
 * library only offers inside its `auth.callback` (see README, Decisions).
 * Only expiring offline tokens are ever requested.
 */

export interface ShopifyAppConfig {
  apiKey: string;
  apiSecret: string;
  scopes: string;
  apiVersion: string;
  /** This app's public URL (BACKEND_URL). */
  appUrl: string;
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

/** Shopify refused the grant (bad code, session token or refresh token): the caller's credentials are not valid. */
export class ShopifyGrantRejectedError extends DomainError {
  constructor(readonly httpStatus: number) {
    super('unauthenticated', 'Shopify refused the authorization', 'SHOPIFY_AUTH_REJECTED');
  }
}

/**
 * The library's HTTP calls go through its runtime fetch, one per process; each
 * call runs with the fetch of the app instance that made it, so several
 * instances (tests run many) each reach their own Shopify.
 */
const libraryFetch = new AsyncLocalStorage<ShopifyFetch>();
setAbstractFetchFunc((input, init) => {
  const fetchForCall = libraryFetch.getStore();
  if (!fetchForCall) return Promise.reject(new Error('Shopify library call outside createShopifyAuth'));
  return fetchForCall(input, init);
});

type TokenFields = Pick<Session, 'accessToken' | 'scope' | 'expires' | 'refreshToken' | 'refreshTokenExpires'>;

function tokenSet(session: TokenFields): OfflineTokenSet {
  if (!session.accessToken) throw new UnavailableError('Shopify answered without an access token');
  return {
    accessToken: session.accessToken,
    scope: session.scope ?? '',
    expiresAt: session.expires ?? null,
    refreshToken: session.refreshToken ?? null,
    refreshTokenExpiresAt: session.refreshToken ? (session.refreshTokenExpires ?? null) : null,
  };
}

/** A 4xx from the token endpoint is a refusal; throttling, 5xx and network failures are Shopify being unavailable. */
function grantError(err: unknown): Error {
  if (err instanceof InvalidJwtError) return new ShopifyGrantRejectedError(401);
  if (err instanceof HttpResponseError && !(err instanceof HttpRetriableError) && err.response.code < 500) {
    return new ShopifyGrantRejectedError(err.response.code);
  }
  return new UnavailableError('Shopify is unreachable or answered with an error');
}

export type ShopifyAuth = ReturnType<typeof createShopifyAuth>;

export function createShopifyAuth(app: ShopifyAppConfig, opts: { onWarning?: (message: string) => void } = {}) {
  const appUrl = new URL(app.appUrl);
  const api = shopifyApi({
    apiKey: app.apiKey,
    apiSecretKey: app.apiSecret,
    scopes: app.scopes.split(','),
    hostName: appUrl.host,
    hostScheme: appUrl.protocol === 'http:' ? 'http' : 'https',
    apiVersion: app.apiVersion as ApiVersion,
    isEmbeddedApp: true,
    // Warnings and errors to our logger; the library's info lines (one per token) stay out.
    logger: { level: LogSeverity.Warning, log: (_severity, message) => opts.onWarning?.(message) },
  });
  const shopifyFetch = createShopifyFetch(app.adminUrlTemplate);

  async function grant(call: () => Promise<{ session: Session }>): Promise<OfflineTokenSet> {
    let session: Session;
    try {
      ({ session } = await libraryFetch.run(shopifyFetch, call));
    } catch (err) {
      throw grantError(err);
    }
    return tokenSet(session);
  }

  return {
    /**
     * The shop a session token (App Bridge ID token) names, or null. The
     * library checks HS256 with the app secret, `aud` and `exp`/`nbf` with
     * 10 s leeway; we also require `exp`, and `iss` = `https://{shop}/admin`
     * and `dest` = `https://{shop}` naming the same valid shop (the library
     * accepts a token whose `iss` names another shop).
     */
    async verifySessionToken(token: string): Promise<string | null> {
      let payload: Awaited<ReturnType<typeof api.session.decodeSessionToken>>;
      try {
        payload = await api.session.decodeSessionToken(token);
      } catch {
        return null; // the library's message quotes the token: never log it
      }
      if (typeof payload.exp !== 'number') return null;
      const dest = typeof payload.dest === 'string' ? /^https:\/\/([^/]+)$/.exec(payload.dest) : null;
      const iss = typeof payload.iss === 'string' ? /^https:\/\/([^/]+)\/admin$/.exec(payload.iss) : null;
      if (!dest || !iss || dest[1] !== iss[1]) return null;
      // The regex is applied to the value as sent: `SHOP.myshopify.com` in a token is lower-cased, not refused.
      return normalizeShopDomain(dest[1]);
    },

    /** Token exchange: a verified session token for an expiring offline token. */
    exchangeSessionToken(shop: string, sessionToken: string): Promise<OfflineTokenSet> {
      return grant(() =>
        api.auth.tokenExchange({ shop, sessionToken, requestedTokenType: RequestedTokenType.OfflineAccessToken, expiring: true }),
      );
    },

    /** A new access token and a new refresh token (the old refresh token is spent). */
    refreshAccessToken(shop: string, refreshToken: string): Promise<OfflineTokenSet> {
      return grant(() => api.auth.refreshToken({ shop, refreshToken }));
    },

    /**
     * The OAuth callback's query (raw, as received): the library checks the
     * hex HMAC-SHA256 over the sorted parameters and that `timestamp` is
     * within 90 s. A repeated key is refused first (Shopify never sends one,
     * and it would make the signed message ambiguous).
     */
    async verifyCallbackQuery(rawQuery: string): Promise<boolean> {
      const params = new URLSearchParams(rawQuery);
      const keys = [...params.keys()];
      if (new Set(keys).size !== keys.length) return false;
      try {
        return await api.utils.validateHmac(Object.fromEntries(params));
      } catch {
        return false; // no hmac, or a missing or stale timestamp
      }
    },

    /** Where the browser goes to approve the app: always the real shop over https. */
    authorizeUrl(shop: string, redirectUri: string, state: string): string {
      if (normalizeShopDomain(shop) !== shop) throw new Error('invalid shop domain');
      const q = new URLSearchParams({ client_id: app.apiKey, scope: app.scopes, redirect_uri: redirectUri, state });
      return `https://${shop}/admin/oauth/authorize?${q.toString()}`;
    },

    /** OAuth code grant: the code from a verified callback, for an expiring offline token. */
    async exchangeCode(shop: string, code: string): Promise<OfflineTokenSet> {
      let res: Response;
      try {
        res = await shopifyFetch(`https://${shop}/admin/oauth/access_token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ client_id: app.apiKey, client_secret: app.apiSecret, code, expiring: '1' }),
        });
      } catch {
        throw new UnavailableError('Shopify is unreachable');
      }
      const json = (await res.json().catch(() => null)) as Record<string, unknown> | null;
      if (res.status >= 400 && res.status < 500 && res.status !== 429) throw new ShopifyGrantRejectedError(res.status);
      if (!res.ok || !json) throw new UnavailableError('Shopify answered with an error');
      const seconds = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? new Date(Date.now() + v * 1000) : undefined);
      const refreshToken = typeof json.refresh_token === 'string' && json.refresh_token ? json.refresh_token : undefined;
      return tokenSet({
        accessToken: typeof json.access_token === 'string' && json.access_token ? json.access_token : undefined,
        scope: typeof json.scope === 'string' ? json.scope : undefined,
        expires: seconds(json.expires_in),
        refreshToken,
        refreshTokenExpires: seconds(json.refresh_token_expires_in),
      });
    },

    /**
     * A webhook delivery, before its body is parsed: the library checks
     * `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the body, constant time)
     * and that Shopify's headers are present.
     */
    validateWebhook(rawBody: string, rawRequest: IncomingMessage) {
      return api.webhooks.validate({ rawBody, rawRequest });
    },
  };
}
