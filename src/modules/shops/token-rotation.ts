import { and, asc, eq, gt, isNotNull, or } from 'drizzle-orm';
import type { Db } from '../../adapters/db/client.js';
import { shops } from '../../adapters/db/schema.js';
import type { TokenCipher } from '../../lib/token-cipher.js';

export interface ReencryptReport {
  /** Shops whose tokens were rewritten with the current key. */
  reencrypted: number;
  /** Shops whose tokens already were. */
  current: number;
  /** Shops with a token that no configured key opens (left as they are). */
  unreadable: string[];
}

/**
 * Rewrites every stored Shopify token with the cipher's current key (the end of
 * a TOKEN_ENCRYPTION_KEY rotation). One shop per short transaction that holds
 * the shop's row lock, the lock the token refresh takes too, so it is safe
 * while the app runs: a refresh either commits first (with the current key,
 * which this then leaves alone) or waits. Idempotent and resumable: tokens
 * already under the current key are not touched, so a second run, or a run
 * after an interruption, changes only what is left.
 */
export async function reencryptStoredTokens(
  db: Db,
  cipher: TokenCipher,
  opts: { batchSize?: number; onShop?: (shop: string, outcome: 'reencrypted' | 'current' | 'unreadable') => void } = {},
): Promise<ReencryptReport> {
  const report: ReencryptReport = { reencrypted: 0, current: 0, unreadable: [] };
  const batchSize = opts.batchSize ?? 100;
  let after = '';
  for (;;) {
    const batch = await db
      .select({ domain: shops.domain })
      .from(shops)
      .where(and(gt(shops.domain, after), or(isNotNull(shops.accessTokenEnc), isNotNull(shops.refreshTokenEnc))))
      .orderBy(asc(shops.domain))
      .limit(batchSize);
    if (batch.length === 0) return report;
    for (const { domain } of batch) {
      const outcome = await reencryptShop(db, cipher, domain);
      if (outcome === 'unreadable') report.unreadable.push(domain);
      else report[outcome]++;
      opts.onShop?.(domain, outcome);
    }
    after = batch.at(-1)!.domain;
  }
}

async function reencryptShop(db: Db, cipher: TokenCipher, shop: string): Promise<'reencrypted' | 'current' | 'unreadable'> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select({ access: shops.accessTokenEnc, refresh: shops.refreshTokenEnc })
      .from(shops)
      .where(eq(shops.domain, shop))
      .for('update');
    if (!row) return 'current'; // deleted meanwhile (shop/redact)
    let access: string | null;
    let refresh: string | null;
    try {
      access = row.access ? cipher.reencrypt(row.access, shop) : null;
      refresh = row.refresh ? cipher.reencrypt(row.refresh, shop) : null;
    } catch {
      return 'unreadable';
    }
    if (access === null && refresh === null) return 'current';
    await tx
      .update(shops)
      .set({ ...(access ? { accessTokenEnc: access } : {}), ...(refresh ? { refreshTokenEnc: refresh } : {}) })
      .where(eq(shops.domain, shop));
    return 'reencrypted';
  });
}
