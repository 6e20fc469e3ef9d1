import { createHash } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { and, asc, eq, gt, ilike, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { demoMedia, demoProducts } from '../db/schema.js';
import type { Storage } from '../storage/storage.js';
import { InvalidInputError } from '../../lib/errors.js';
import type { CatalogueMedia, CataloguePort, CatalogueProduct, ListQuery, RestoreInput, WriteResult } from '../../modules/catalogue/port.js';
import { DEMO_PRODUCTS, renderDemoPhoto } from './demo-photos.js';

/**
 * The demo catalogue of local mode: a few products with generated studio
 * photos, kept in the embedded database (demo_products, demo_media) and local
 * storage, seeded the first time a shop looks at its catalogue. Writes and
 * restores behave like the store's: a replace keeps the media id and its
 * position, an add appends a media, a restore puts the original bytes back.
 * The source is read from our own storage (no network: nothing to refuse).
 */

const URL_TTL_S = 3600;
const EXT: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif' };

/** A Shopify-like numeric id, stable for (shop, name): seeding twice inserts nothing twice. */
function gid(kind: 'Product' | 'MediaImage' | 'Collection', ...parts: string[]): string {
  const n = BigInt(`0x${createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 13)}`);
  return `gid://shopify/${kind}/${n}`;
}

export const demoCollectionId = (shop: string, name: string) => gid('Collection', shop, name);

function encodeCursor(id: string) {
  return Buffer.from(JSON.stringify({ after: id })).toString('base64url');
}
function decodeCursor(cursor: string): string {
  try {
    const { after } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof after === 'string' && after.startsWith('gid://shopify/Product/')) return after;
  } catch {
    // fall through
  }
  throw new InvalidInputError('Invalid cursor', 'INVALID_CURSOR');
}

export function createLocalCatalogue(deps: { db: Db; storage: Storage }): CataloguePort {
  const { db, storage } = deps;
  const seeded = new Map<string, Promise<void>>();

  async function seed(shop: string): Promise<void> {
    const [any] = await db.select({ id: demoProducts.id }).from(demoProducts).where(eq(demoProducts.shop, shop)).limit(1);
    if (any) return;
    for (const product of DEMO_PRODUCTS) {
      const productId = gid('Product', shop, product.title);
      await db
        .insert(demoProducts)
        .values({ id: productId, shop, title: product.title, collectionId: demoCollectionId(shop, product.collection) })
        .onConflictDoNothing();
      let position = 0;
      for (const photo of product.photos) {
        const id = gid('MediaImage', shop, product.title, photo.title);
        const key = `${shop}/demo/${id.split('/').pop()}-0.jpg`;
        const { data, width, height } = await renderDemoPhoto(photo);
        await storage.put(key, data, 'image/jpeg');
        await db
          .insert(demoMedia)
          .values({ id, shop, productId, position: position++, alt: photo.alt, storageKey: key, contentType: 'image/jpeg', width, height })
          .onConflictDoNothing();
      }
    }
  }

  /** Once per shop and process; a failed seed is tried again next time. */
  function ensureSeeded(shop: string): Promise<void> {
    let p = seeded.get(shop);
    if (!p) {
      p = seed(shop).catch((err: unknown) => {
        seeded.delete(shop);
        throw err;
      });
      seeded.set(shop, p);
    }
    return p;
  }

  async function toMedia(row: typeof demoMedia.$inferSelect): Promise<CatalogueMedia> {
    return {
      id: row.id,
      productId: row.productId,
      url: await storage.signedUrl(row.storageKey, URL_TTL_S),
      alt: row.alt,
      width: row.width,
      height: row.height,
      status: 'READY',
    };
  }

  async function mediaRow(shop: string, id: string) {
    const [row] = await db.select().from(demoMedia).where(and(eq(demoMedia.id, id), eq(demoMedia.shop, shop)));
    return row ?? null;
  }

  const keyFor = (shop: string, mediaId: string, tag: string, contentType: string) =>
    `${shop}/demo/${mediaId.split('/').pop()}-${tag}.${EXT[contentType] ?? 'bin'}`;

  return {
    kind: 'local',

    async listProducts(shop: string, q: ListQuery) {
      await ensureSeeded(shop);
      const after = q.cursor ? decodeCursor(q.cursor) : undefined;
      const words = (q.query ?? '').replace(/\btitle:/gi, '').trim();
      const rows = await db
        .select()
        .from(demoProducts)
        .where(
          and(
            eq(demoProducts.shop, shop),
            words ? ilike(demoProducts.title, `%${words.replace(/[%_\\]/g, '\\$&')}%`) : undefined,
            q.collectionId ? eq(demoProducts.collectionId, q.collectionId) : undefined,
            q.productIds ? inArray(demoProducts.id, q.productIds.length ? q.productIds : ['-']) : undefined,
            after ? gt(demoProducts.id, after) : undefined,
          ),
        )
        .orderBy(asc(demoProducts.id))
        .limit(q.limit + 1);
      const page = rows.slice(0, q.limit);
      const media = page.length
        ? await db
            .select()
            .from(demoMedia)
            .where(inArray(demoMedia.productId, page.map((p) => p.id)))
            .orderBy(asc(demoMedia.position))
        : [];
      const products: CatalogueProduct[] = [];
      for (const p of page) {
        products.push({
          id: p.id,
          title: p.title,
          status: p.status,
          media: await Promise.all(media.filter((m) => m.productId === p.id).map(toMedia)),
        });
      }
      return { products, nextCursor: rows.length > q.limit && page.length ? encodeCursor(page.at(-1)!.id) : null };
    },

    async getMedia(shop, mediaId) {
      await ensureSeeded(shop);
      const row = await mediaRow(shop, mediaId);
      return row ? toMedia(row) : null;
    },

    async downloadSource(shop, media) {
      const row = await mediaRow(shop, media.id);
      if (!row) throw new Error('The demo media is gone');
      const stored = await storage.get(row.storageKey);
      return { data: await buffer(stored.body), contentType: row.contentType };
    },

    async writeResult(shop, media, result: WriteResult) {
      const row = await mediaRow(shop, media.id);
      if (!row) throw new Error('The demo media is gone');
      const size = { width: result.width ?? null, height: result.height ?? null };
      if (result.mode === 'replace') {
        const key = keyFor(shop, media.id, result.key, result.contentType);
        await storage.put(key, result.data, result.contentType);
        const [updated] = await db
          .update(demoMedia)
          .set({ storageKey: key, contentType: result.contentType, alt: result.alt, ...size })
          .where(eq(demoMedia.id, media.id))
          .returning();
        return toMedia(updated!);
      }
      // add: a new media after the product's last one; its id comes from the key, so a repeat adds nothing.
      const id = gid('MediaImage', shop, 'result', result.key);
      await result.onCreated?.(id);
      const key = keyFor(shop, id, '0', result.contentType);
      await storage.put(key, result.data, result.contentType);
      await db
        .insert(demoMedia)
        .values({
          id,
          shop,
          productId: row.productId,
          position: sql`(select coalesce(max(position), -1) + 1 from demo_media where product_id = ${row.productId})`,
          alt: result.alt,
          storageKey: key,
          contentType: result.contentType,
          ...size,
        })
        .onConflictDoNothing();
      return toMedia((await mediaRow(shop, id))!);
    },

    async restore(shop, input: RestoreInput) {
      if (input.mode === 'add') {
        // The original never changed: the added result goes away.
        await db.delete(demoMedia).where(and(eq(demoMedia.id, input.resultMediaId), eq(demoMedia.shop, shop)));
        const row = await mediaRow(shop, input.media.id);
        if (!row) throw new Error('The demo media is gone');
        return toMedia(row);
      }
      const key = keyFor(shop, input.media.id, `restored-${Date.now()}`, input.original.contentType);
      await storage.put(key, input.original.data, input.original.contentType);
      const [updated] = await db
        .update(demoMedia)
        .set({
          storageKey: key,
          contentType: input.original.contentType,
          alt: input.alt,
          width: input.original.width ?? null,
          height: input.original.height ?? null,
        })
        .where(and(eq(demoMedia.id, input.media.id), eq(demoMedia.shop, shop)))
        .returning();
      if (!updated) throw new Error('The demo media is gone');
      return toMedia(updated);
    },

    async missingScopes() {
      return [];
    },
  };
}
