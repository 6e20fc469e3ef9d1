import { eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../adapters/db/client.js';
import { settings } from '../../adapters/db/schema.js';
import { DEFAULT_FINISHING, type Finishing, resolveFinishing } from '../images/finishing.js';

export interface ShopSettings {
  backgroundRemoval: boolean;
  optimizeImages: boolean;
  avatarPath: string | null;
  /** The shop's saved finishing defaults (partial: unset fields take DEFAULT_FINISHING), or null. */
  finishing: Partial<Finishing> | null;
  updatedAt: Date | null;
}

/**
 * Defaults when nothing is saved. `background_removal`: an upload that names
 * no operation removes the background. `optimize_images`: results are
 * re-encoded with maximum PNG compression, and an upload that names no
 * operation (and no background removal) is downscaled.
 */
export const DEFAULT_SETTINGS: ShopSettings = {
  backgroundRemoval: false,
  optimizeImages: false,
  avatarPath: null,
  finishing: null,
  updatedAt: null,
};

/** The shop's finishing defaults, complete. */
export function shopFinishing(s: Pick<ShopSettings, 'finishing'>): Finishing {
  return resolveFinishing(s.finishing ?? {}, DEFAULT_FINISHING);
}

export async function getSettings(db: DbOrTx, shop: string): Promise<ShopSettings> {
  const [row] = await db.select().from(settings).where(eq(settings.shop, shop));
  return row ? { ...row, finishing: (row.finishing as Partial<Finishing> | null) ?? null } : DEFAULT_SETTINGS;
}

/** Partial update: a field left out keeps its saved (or default) value. */
export async function updateSettings(
  db: DbOrTx,
  shop: string,
  patch: Partial<Pick<ShopSettings, 'backgroundRemoval' | 'optimizeImages' | 'avatarPath' | 'finishing'>>,
): Promise<ShopSettings> {
  const [row] = await db
    .insert(settings)
    .values({
      shop,
      backgroundRemoval: patch.backgroundRemoval ?? DEFAULT_SETTINGS.backgroundRemoval,
      optimizeImages: patch.optimizeImages ?? DEFAULT_SETTINGS.optimizeImages,
      avatarPath: patch.avatarPath ?? null,
      finishing: patch.finishing ?? null,
    })
    .onConflictDoUpdate({
      target: settings.shop,
      set: { ...patch, updatedAt: sql`now()` },
    })
    .returning();
  return { ...row!, finishing: (row!.finishing as Partial<Finishing> | null) ?? null };
}
