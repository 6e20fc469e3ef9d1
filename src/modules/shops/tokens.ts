import { eq, sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../../adapters/db/client.js';
import { shops } from '../../adapters/db/schema.js';
import type { OfflineTokenSet } from '../../adapters/shopify/auth.js';
import { DomainError, UnauthenticatedError } from '../../lib/errors.js';
import type { TokenCipher } from '../../lib/token-cipher.js';
import { installedShop } from './shops.js';

/**
 * The shop's offline Shopify tokens, encrypted at rest (lib/token-cipher).
 * An expiring access token is refreshed a few minutes before it expires (or
 * once after Shopify refused it) under a per-shop row lock
 * (`SELECT ... FOR UPDATE` on the shops row), so two requests, in one process
 * or in several, never spend the same refresh token: the second one waits for
 * the lock and then finds the fresh token. The new access and refresh tokens
 * are stored in one write before the new access token is used.
 */

export interface TokenStoreDeps {
  db: Db;
  cipher: TokenCipher;
  /** Calls Shopify's refresh grant. A DomainError of kind `unauthenticated` means the refresh token is dead. */
  refresh: (shop: string, refreshToken: string) => Promise<OfflineTokenSet>;
  /** Refresh this long before expiry (default 5 minutes). */
  refreshMarginMs?: number;
  now?: () => number;
}

export type TokenStore = ReturnType<typeof createTokenStore>;

export type EncryptedTokenFields = Pick<
  typeof shops.$inferInsert,
  'accessTokenEnc' | 'accessTokenExpiresAt' | 'refreshTokenEnc' | 'refreshTokenExpiresAt' | 'scopes'
>;

export const CLEARED_TOKENS = {
  accessTokenEnc: null,
  accessTokenExpiresAt: null,
  refreshTokenEnc: null,
  refreshTokenExpiresAt: null,
} as const;

export class NoAccessTokenError extends UnauthenticatedError {
  constructor() {
    super('The shop has no valid Shopify access token; open the app from the Shopify admin again');
  }
}

export function createTokenStore(deps: TokenStoreDeps) {
  const margin = deps.refreshMarginMs ?? 5 * 60_000;
  const now = deps.now ?? Date.now;

  const encryptedFields = (shop: string, set: OfflineTokenSet): EncryptedTokenFields => ({
    accessTokenEnc: deps.cipher.encrypt(set.accessToken, shop),
    accessTokenExpiresAt: set.expiresAt,
    refreshTokenEnc: set.refreshToken ? deps.cipher.encrypt(set.refreshToken, shop) : null,
    refreshTokenExpiresAt: set.refreshToken ? set.refreshTokenExpiresAt : null,
    ...(set.scope ? { scopes: set.scope } : {}),
  });

  const decrypt = (value: string | null, shop: string): string | null => {
    if (!value) return null;
    try {
      return deps.cipher.decrypt(value, shop);
    } catch {
      return null; // another key, or tampered: as good as no token
    }
  };

  const fresh = (expiresAt: Date | null) => expiresAt === null || expiresAt.getTime() - margin > now();

  async function readRow(db: DbOrTx, shop: string, lock: boolean) {
    const query = db
      .select({
        accessTokenEnc: shops.accessTokenEnc,
        accessTokenExpiresAt: shops.accessTokenExpiresAt,
        refreshTokenEnc: shops.refreshTokenEnc,
        refreshTokenExpiresAt: shops.refreshTokenExpiresAt,
      })
      .from(shops)
      .where(installedShop(shop));
    const [row] = lock ? await query.for('update') : await query;
    return row ?? null;
  }

  return {
    encryptedFields,

    /** Installed, with an access token stored (whether or not it is still fresh). */
    async hasAccessToken(db: DbOrTx, shop: string): Promise<boolean> {
      const row = await readRow(db, shop, false);
      return Boolean(row?.accessTokenEnc);
    },

    /** Replaces the stored tokens with a new set (one write). */
    async save(db: DbOrTx, shop: string, set: OfflineTokenSet): Promise<void> {
      await db
        .update(shops)
        .set({ ...encryptedFields(shop, set), updatedAt: new Date() })
        .where(eq(shops.domain, shop));
    },

    async clear(db: DbOrTx, shop: string): Promise<void> {
      await db
        .update(shops)
        .set({ ...CLEARED_TOKENS, updatedAt: new Date() })
        .where(eq(shops.domain, shop));
    },

    /**
     * A usable access token for the shop. `rejected`: a token Shopify just
     * answered 401 to; if it is still the stored one, it is refreshed even when
     * not yet expired.
     */
    async getAccessToken(shop: string, opts: { rejected?: string } = {}): Promise<string> {
      const usable = (row: Awaited<ReturnType<typeof readRow>>) => {
        const token = decrypt(row?.accessTokenEnc ?? null, shop);
        return token && fresh(row!.accessTokenExpiresAt) && token !== opts.rejected ? token : null;
      };
      const quick = usable(await readRow(deps.db, shop, false));
      if (quick) return quick;

      let dead = false;
      const token = await deps.db.transaction(async (tx) => {
        // The per-shop lock: a concurrent refresher waits here, then sees the new token.
        const row = await readRow(tx, shop, true);
        if (!row) return null;
        const current = usable(row);
        if (current) return current;
        const refreshToken = decrypt(row.refreshTokenEnc, shop);
        const refreshAlive = row.refreshTokenExpiresAt === null || row.refreshTokenExpiresAt.getTime() > now();
        if (!refreshToken || !refreshAlive) {
          dead = true;
        } else {
          try {
            const set = await deps.refresh(shop, refreshToken);
            await tx
              .update(shops)
              .set({ ...encryptedFields(shop, set), updatedAt: new Date() })
              .where(eq(shops.domain, shop));
            return set.accessToken;
          } catch (err) {
            if (!(err instanceof DomainError && err.kind === 'unauthenticated')) throw err;
            dead = true;
          }
        }
        // Shopify will not give a new token for this one: forget it, so the next
        // session token installs the shop again by token exchange.
        await tx.update(shops).set({ ...CLEARED_TOKENS, updatedAt: new Date() }).where(eq(shops.domain, shop));
        return null;
      });
      if (!token || dead) throw new NoAccessTokenError();
      return token;
    },
  };
}

/** Serialises work on one shop across processes for the rest of the transaction (no row needed). */
export async function lockShop(tx: DbOrTx, shop: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`shop:${shop}`}, 0))`);
}
