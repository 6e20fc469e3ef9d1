import { and, eq, inArray } from 'drizzle-orm';
import type { Db, DbOrTx } from '../../adapters/db/client.js';
import { autoSeenMedia, catalogueBatches, catalogueMediaIndex, idempotencyKeys, images, jobs, settings, shops } from '../../adapters/db/schema.js';
import type { OfflineTokenSet } from '../../adapters/shopify/auth.js';
import type { Storage } from '../../adapters/storage/storage.js';
import { keyBelongsToShop } from '../../lib/storage-key.js';
import { refund } from '../ledger/ledger.js';
import { installShop, type InstallResult } from './shops.js';
import { CLEARED_TOKENS, lockShop, type TokenStore } from './tokens.js';

/**
 * Install, uninstall and redact: what happens to a shop's data when Shopify
 * tells us. The token exchange is injected. Webhook subscriptions are not
 * made here: they are declared in shopify.app.toml and deployed by the CLI.
 *
 * A lifecycle event (uninstall, scopes update, redact) triggered before the
 * shop's current install belongs to an earlier install (a delayed retry): it
 * is ignored, decided under the shop row's lock so that it cannot interleave
 * with a reinstall.
 */

export interface LifecycleDeps {
  db: Db;
  tokens: TokenStore;
  freeCredits: number;
  /** Token exchange: a verified session token for an expiring offline token. */
  exchangeSessionToken: (shop: string, sessionToken: string) => Promise<OfflineTokenSet>;
  storage: Pick<Storage, 'delete'>;
  /** Problems that do not fail the operation (a file already gone). */
  onWarning?: (message: string, err: unknown) => void;
}

/** When Shopify says the event happened (X-Shopify-Triggered-At); null when it did not say. */
export interface LifecycleEvent {
  triggeredAt: Date | null;
}

export const UNINSTALLED_MESSAGE = 'Shop uninstalled';

export type ShopLifecycle = ReturnType<typeof createShopLifecycle>;

/** Locks the shop row; true when the event was triggered before the shop's current install. */
async function beforeCurrentInstall(tx: DbOrTx, shop: string, event: LifecycleEvent): Promise<boolean> {
  const [row] = await tx.select({ installedAt: shops.installedAt }).from(shops).where(eq(shops.domain, shop)).for('update');
  return Boolean(event.triggeredAt && row?.installedAt && event.triggeredAt < row.installedAt);
}

export function createShopLifecycle(deps: LifecycleDeps) {
  const warn = deps.onWarning ?? (() => {});

  return {
    /** Stores the tokens (encrypted), marks the shop installed, grants the free credits once. */
    install(shop: string, set: OfflineTokenSet): Promise<InstallResult> {
      return installShop(deps.db, shop, deps.freeCredits, deps.tokens.encryptedFields(shop, set));
    },

    /**
     * A shop with a valid session token and no stored access token: token
     * exchange, then install. Under the shop's lock, so concurrent first loads
     * exchange once.
     */
    async installWithSessionToken(shop: string, sessionToken: string): Promise<void> {
      await deps.db.transaction(async (tx) => {
        await lockShop(tx, shop);
        if (await deps.tokens.hasAccessToken(tx, shop)) return;
        const tokens = await deps.exchangeSessionToken(shop, sessionToken);
        await installShop(tx as unknown as Db, shop, deps.freeCredits, deps.tokens.encryptedFields(shop, tokens));
      });
    },

    /**
     * app/uninstalled: the shop is marked uninstalled and its tokens deleted;
     * its pending and queued images fail with a refund each (processing ones
     * finish). The balance is kept. One transaction; repeating it changes nothing.
     */
    async uninstall(shop: string, event: LifecycleEvent): Promise<{ stale: true } | { stale: false; cancelled: number }> {
      return deps.db.transaction(async (tx) => {
        if (await beforeCurrentInstall(tx, shop, event)) return { stale: true as const };
        const now = new Date();
        await tx
          .update(shops)
          .set({ ...CLEARED_TOKENS, uninstalledAt: now, updatedAt: now })
          .where(eq(shops.domain, shop));
        const cancelled = await tx
          .update(images)
          .set({ status: 'failed', errorMessage: UNINSTALLED_MESSAGE, updatedAt: now, finishedAt: now })
          .where(and(eq(images.shop, shop), inArray(images.status, ['pending', 'queued'])))
          .returning({ id: images.id });
        const ids = cancelled.map((r) => r.id);
        for (const id of ids) await refund(tx, shop, id, 1);
        if (ids.length > 0) {
          await tx
            .update(jobs)
            .set({ status: 'failed', lastError: UNINSTALLED_MESSAGE, updatedAt: now })
            .where(and(inArray(jobs.id, ids), eq(jobs.status, 'queued')));
        }
        return { stale: false as const, cancelled: ids.length };
      });
    },

    /** app/scopes_update: the scopes now granted. */
    async updateScopes(shop: string, scopes: string[], event: LifecycleEvent): Promise<{ stale: boolean }> {
      return deps.db.transaction(async (tx) => {
        if (await beforeCurrentInstall(tx, shop, event)) return { stale: true };
        await tx
          .update(shops)
          .set({ scopes: scopes.join(','), updatedAt: new Date() })
          .where(eq(shops.domain, shop));
        return { stale: false };
      });
    },

    /**
     * shop/redact: deletes the shop's images (rows and files), settings (and
     * avatar), cached idempotent answers and tokens. The ledger is kept (it is
     * the record of what was paid for).
     */
    async redact(shop: string, event: LifecycleEvent): Promise<{ stale: true } | { stale: false; images: number; files: number }> {
      const keys = new Set<string>([`avatars/${shop}/avatar.webp`]);
      const removed = await deps.db.transaction(async (tx) => {
        if (await beforeCurrentInstall(tx, shop, event)) return null;
        const rows = await tx
          .select({ id: images.id, originalPath: images.originalPath, processedPath: images.processedPath })
          .from(images)
          .where(eq(images.shop, shop));
        const [setting] = await tx.select({ avatarPath: settings.avatarPath }).from(settings).where(eq(settings.shop, shop));
        for (const r of rows) {
          keys.add(r.originalPath);
          if (r.processedPath) keys.add(r.processedPath);
        }
        if (setting?.avatarPath) keys.add(setting.avatarPath);
        const ids = rows.map((r) => r.id);
        if (ids.length > 0) await tx.delete(jobs).where(inArray(jobs.id, ids));
        // Catalogue runs (and with them the kept originals, which are the images' original files) go too.
        await tx.delete(images).where(eq(images.shop, shop));
        await tx.delete(catalogueBatches).where(eq(catalogueBatches.shop, shop));
        await tx.delete(autoSeenMedia).where(eq(autoSeenMedia.shop, shop));
        await tx.delete(catalogueMediaIndex).where(eq(catalogueMediaIndex.shop, shop));
        await tx.delete(settings).where(eq(settings.shop, shop));
        await tx.delete(idempotencyKeys).where(eq(idempotencyKeys.shop, shop));
        await tx.update(shops).set({ ...CLEARED_TOKENS, updatedAt: new Date() }).where(eq(shops.domain, shop));
        return rows.length;
      });
      if (removed === null) return { stale: true };
      let files = 0;
      const owned = [...keys].filter((k) => keyBelongsToShop(k, shop));
      await Promise.all(
        owned.map(async (key) => {
          try {
            await deps.storage.delete(key);
            files++;
          } catch (err) {
            if ((err as { kind?: string }).kind !== 'not_found') warn('file deletion failed', err);
          }
        }),
      );
      return { stale: false, images: removed, files };
    },
  };
}
