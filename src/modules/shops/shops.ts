import { and, eq, isNotNull, isNull, type Placeholder, sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../../adapters/db/client.js';
import { shopCredits, shops } from '../../adapters/db/schema.js';
import { credit, openAccount } from '../ledger/ledger.js';

/** The scopes the shop granted (comma-separated, as Shopify sends them); null when unknown. */
export async function grantedScopes(db: DbOrTx, shop: string): Promise<string | null> {
  const [row] = await db.select({ scopes: shops.scopes }).from(shops).where(eq(shops.domain, shop));
  return row?.scopes ?? null;
}

/** The reference of the one free grant a shop ever gets (unique in the ledger). */
export const FREE_GRANT_REFERENCE = 'first-install';

export interface InstallResult {
  /** True only on the very first install of this shop. */
  firstInstall: boolean;
}

/**
 * Marks the shop installed (again) and grants the free credits on its first
 * install only: the ledger's unique (shop, grant, first-install) makes a
 * reinstall, or two installs racing, grant nothing more.
 */
export async function installShop(
  db: Db,
  shop: string,
  freeCredits: number,
  fields: Partial<Pick<typeof shops.$inferInsert, 'scopes' | 'accessTokenEnc' | 'accessTokenExpiresAt' | 'refreshTokenEnc' | 'refreshTokenExpiresAt'>> = {},
): Promise<InstallResult> {
  return db.transaction(async (tx) => {
    const now = new Date();
    await tx
      .insert(shops)
      .values({ domain: shop, installedAt: now, ...fields })
      .onConflictDoUpdate({
        target: shops.domain,
        set: { installedAt: now, uninstalledAt: null, updatedAt: now, ...fields },
      });
    await openAccount(tx, shop);
    if (freeCredits <= 0) return { firstInstall: false };
    const grant = await credit(tx, { shop, reason: 'grant', reference: FREE_GRANT_REFERENCE }, freeCredits);
    return { firstInstall: grant.applied };
  });
}

/** The shop's row while it is installed (installed, not uninstalled since). */
export const installedShop = (shop: string | Placeholder) => and(eq(shops.domain, shop), isNotNull(shops.installedAt), isNull(shops.uninstalledAt));

export interface ShopSummary {
  plan: string;
  credits: number;
  hasAccessToken: boolean;
}

/**
 * The session query, built once per database handle: drizzle's query builder costs more CPU
 * than the indexed lookup itself (bench auth-reads profile: about 10 % of a /credits/me request).
 */
function summaryQuery(db: DbOrTx) {
  return db
    .select({
      plan: shops.plan,
      credits: sql<number>`coalesce(${shopCredits.balance}, 0)`.mapWith(Number),
      hasAccessToken: sql<boolean>`${shops.accessTokenEnc} is not null`,
    })
    .from(shops)
    .leftJoin(shopCredits, eq(shopCredits.shop, shops.domain))
    .where(installedShop(sql.placeholder('shop')))
    .prepare('installed_shop_summary');
}
const summaryQueries = new WeakMap<DbOrTx, ReturnType<typeof summaryQuery>>();

/** An installed shop's plan, balance and whether it has a stored access token: null when not installed. One query. */
export async function installedShopSummary(db: DbOrTx, shop: string): Promise<ShopSummary | null> {
  let query = summaryQueries.get(db);
  if (!query) {
    query = summaryQuery(db);
    summaryQueries.set(db, query);
  }
  const [row] = await query.execute({ shop });
  return row ?? null;
}

