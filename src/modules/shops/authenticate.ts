import type { Db } from '../../adapters/db/client.js';
import { UnauthenticatedError } from '../../lib/errors.js';
import { signSession, verifySession } from '../../lib/session-jwt.js';
import { isInstalled } from './shops.js';

export interface AuthenticatorDeps {
  db: Db;
  jwtSecret: string;
  /** Retired secrets still accepted for session cookies during a rotation. */
  jwtPreviousSecrets?: readonly string[];
  /** Verifies a Shopify session token; absent in local mode (Bearer tokens are then refused). */
  verifySessionToken?: (token: string) => Promise<string | null>;
  /** Installs a shop that has a valid session token but no stored access token (token exchange). */
  installWithSessionToken?: (shop: string, sessionToken: string) => Promise<void>;
  /** Installed with a stored access token; without it, `isInstalled` decides whether token exchange is needed. */
  hasAccessToken?: (shop: string) => Promise<boolean>;
}

/** Longest credential looked at (longer ones are refused unread). */
export const MAX_TOKEN_LENGTH = 8192;
export const BEARER_RE = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

export type Authenticator = ReturnType<typeof createAuthenticator>;

export function createAuthenticator(deps: AuthenticatorDeps) {
  return {
    /**
     * The shop a credential names, checking only its signature and claims: no
     * database lookup, no token exchange (cheap enough for every request, e.g.
     * rate-limit identity). Same precedence as requireShop: a present
     * Authorization header is the only credential looked at. Null when forged,
     * expired, malformed or absent.
     */
    async identify(credentials: { authorization?: string | undefined; cookie?: string | undefined }): Promise<string | null> {
      if (credentials.authorization !== undefined) {
        const m = BEARER_RE.exec(credentials.authorization);
        if (!m || m[1]!.length > MAX_TOKEN_LENGTH || !deps.verifySessionToken) return null;
        return deps.verifySessionToken(m[1]!);
      }
      const cookie = credentials.cookie;
      if (!cookie || cookie.length > MAX_TOKEN_LENGTH) return null;
      return verifySession(deps.jwtSecret, cookie, deps.jwtPreviousSecrets);
    },

    issueSession: (shop: string) => signSession(deps.jwtSecret, shop),

    /** compat cookie: a valid session JWT for a shop that is installed now. */
    async fromSessionCookie(token: string): Promise<string> {
      const shop = await verifySession(deps.jwtSecret, token, deps.jwtPreviousSecrets);
      if (!shop) throw new UnauthenticatedError('Invalid or expired session');
      if (!(await isInstalled(deps.db, shop))) throw new UnauthenticatedError('Shop is not installed');
      return shop;
    },

    /** Embedded app: a Shopify session token; a shop without a stored token is installed by token exchange. */
    async fromSessionToken(token: string): Promise<string> {
      const shop = deps.verifySessionToken ? await deps.verifySessionToken(token) : null;
      if (!shop) throw new UnauthenticatedError('Invalid or expired session token');
      const ready = deps.hasAccessToken ? await deps.hasAccessToken(shop) : await isInstalled(deps.db, shop);
      if (!ready) {
        if (!deps.installWithSessionToken) throw new UnauthenticatedError('Shop is not installed');
        await deps.installWithSessionToken(shop, token);
      }
      return shop;
    },
  };
}
