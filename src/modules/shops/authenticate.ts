import type { Db } from '../../adapters/db/client.js';
import { UnauthenticatedError } from '../../lib/errors.js';
import { signSession, verifySession } from '../../lib/session-jwt.js';
import { installedShopSummary, type ShopSummary } from './shops.js';

export interface AuthenticatorDeps {
  db: Db;
  jwtSecret: string;
  /** Retired secrets still accepted for session cookies during a rotation. */
  jwtPreviousSecrets?: readonly string[];
  /** Verifies a Shopify session token; absent in local mode (Bearer tokens are then refused). */
  verifySessionToken?: (token: string) => Promise<string | null>;
  /** Installs a shop that has a valid session token but no stored access token (token exchange). */
  installWithSessionToken?: (shop: string, sessionToken: string) => Promise<void>;
  /** Called once per signature verification (a metric; tests count them per request). */
  onVerify?: () => void;
}

/** Longest credential looked at (longer ones are refused unread). */
export const MAX_TOKEN_LENGTH = 8192;
export const BEARER_RE = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

/** What a request presents: a present Authorization header is the only credential looked at. */
export type Credential = { kind: 'bearer'; token: string } | { kind: 'cookie'; token: string };

export function credentialOf(headers: { authorization?: string | undefined; cookie?: string | undefined }): Credential | 'malformed' | null {
  if (headers.authorization !== undefined) {
    const m = BEARER_RE.exec(headers.authorization);
    return m && m[1]!.length <= MAX_TOKEN_LENGTH ? { kind: 'bearer', token: m[1]! } : 'malformed';
  }
  const cookie = headers.cookie;
  if (!cookie) return null;
  return cookie.length <= MAX_TOKEN_LENGTH ? { kind: 'cookie', token: cookie } : 'malformed';
}

/** The authenticated shop of a request, with what most authenticated reads need (one query). */
export interface ShopSession extends Omit<ShopSummary, 'hasAccessToken'> {
  shop: string;
}

export type Authenticator = ReturnType<typeof createAuthenticator>;

export function createAuthenticator(deps: AuthenticatorDeps) {
  return {
    /**
     * The shop a credential names, checking only its signature and claims: no
     * database lookup, no token exchange. Null when forged, expired or
     * malformed. The HTTP layer calls it once per request and shares the
     * answer between the rate limiter's identity and the route's session.
     */
    async verify(credential: Credential): Promise<string | null> {
      if (credential.kind === 'bearer' && !deps.verifySessionToken) return null;
      deps.onVerify?.();
      return credential.kind === 'bearer'
        ? deps.verifySessionToken!(credential.token)
        : verifySession(deps.jwtSecret, credential.token, deps.jwtPreviousSecrets);
    },

    issueSession: (shop: string) => signSession(deps.jwtSecret, shop),

    /**
     * The session of a verified shop, in one query: the compat cookie needs the
     * shop installed now; a session token (embedded app) needs a stored access
     * token, and a shop without one is installed by token exchange first.
     */
    async session(credential: Credential, shop: string | null): Promise<ShopSession> {
      if (!shop) {
        throw new UnauthenticatedError(credential.kind === 'bearer' ? 'Invalid or expired session token' : 'Invalid or expired session');
      }
      let summary = await installedShopSummary(deps.db, shop);
      const needsExchange = credential.kind === 'bearer' && !summary?.hasAccessToken;
      if (needsExchange) {
        if (!deps.installWithSessionToken) throw new UnauthenticatedError('Shop is not installed');
        await deps.installWithSessionToken(shop, credential.token);
        summary = await installedShopSummary(deps.db, shop);
      }
      if (!summary) throw new UnauthenticatedError('Shop is not installed');
      return { shop, plan: summary.plan, credits: summary.credits };
    },
  };
}
