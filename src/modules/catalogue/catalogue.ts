import { randomUUID } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { eq } from 'drizzle-orm';
import type { Db, Tx } from '../../adapters/db/client.js';
import { images, jobs, mediaRuns, settings } from '../../adapters/db/schema.js';
import { DomainError, InsufficientCreditsError, MissingScopesError, NotFoundError } from '../../lib/errors.js';
import { APPLY_MEDIA, applyJobId, PROCESS_IMAGE } from '../../jobs/catalogue.js';
import { type Finishing, resolveFinishing } from '../images/finishing.js';
import { IMAGE_COST, type ImageRow } from '../images/images.js';
import type { Operation } from '../images/operations.js';
import { balanceOf, debit } from '../ledger/ledger.js';
import type { CatalogueMedia, CataloguePort, ListQuery } from './port.js';
import { getRun, latestRuns, markApplied, markRestored, mediaHistory, restorableRun, type RunWithImage } from './runs.js';
import { isBusy, type MediaState, mediaState } from './state.js';

export type ApplyMode = 'replace' | 'add' | 'none';

export interface RunSpec {
  operation: Operation;
  /** Resolved finishing options (remove-bg only), stored in images.options for the processor. */
  options: Finishing | null;
  apply: ApplyMode;
  batchId?: string;
  auto?: boolean;
}

export interface CatalogueDeps {
  db: Db;
  port: CataloguePort;
  storage: {
    put(key: string, data: Buffer, contentType: string): Promise<void>;
    get(key: string): Promise<{ body: NodeJS.ReadableStream; contentType?: string }>;
    exists(key: string): Promise<boolean>;
  };
  enqueue(type: string, id: string, payload: Record<string, unknown>): Promise<void>;
  /** Dimensions of a result (decoding the header only). */
  dimensions(data: Buffer): Promise<{ width: number; height: number }>;
  /** "This image (and its media) changed": the event stream. */
  publish(shop: string, imageId: string): Promise<void>;
  onAccepted?(count: number): void;
  /** A media we are adding to a product (before it is attached): the automation marks it ours. */
  onResultCreated?(shop: string, mediaId: string): Promise<void>;
}

export interface MediaJson {
  id: string;
  url: string;
  alt: string | null;
  width: number | null;
  height: number | null;
  state: MediaState;
  image_id: string | null;
}

/** A refusal a client can act on, with its own code (409). */
export class CatalogueConflictError extends DomainError {
  constructor(message: string, code: string) {
    super('conflict', message, code);
  }
}


/** The extension a media's kept original gets, from its URL (the bytes are kept as they are). */
export function originalExt(url: string): string {
  const m = /\.(png|jpe?g|webp|gif)(?:$|[?#])/i.exec(url);
  const ext = (m?.[1] ?? 'jpg').toLowerCase();
  return ext === 'jpeg' ? 'jpg' : ext;
}

export const originalKey = (shop: string, imageId: string, url: string) => `${shop}/originals/${imageId}.${originalExt(url)}`;

/** The shop's saved finishing defaults, with the given fields on top (remove-bg only). */
export async function resolveRunOptions(db: Db | Tx, shop: string, operation: Operation, given: Record<string, unknown> | undefined): Promise<Finishing | null> {
  if (operation !== 'remove-bg') return null;
  const [row] = await db.select({ finishing: settings.finishing }).from(settings).where(eq(settings.shop, shop));
  const saved = (row?.finishing ?? {}) as Record<string, unknown>;
  return resolveFinishing(given ?? {}, resolveFinishing(saved));
}

/**
 * Creates one run inside the caller's transaction: one credit debited, the
 * image row (its original is fetched by the worker), the job record and the
 * run. InsufficientCreditsError when the balance is short.
 */
export async function insertRun(tx: Tx, shop: string, media: CatalogueMedia, spec: RunSpec): Promise<{ id: string; balanceAfter: number }> {
  const id = randomUUID();
  const spent = await debit(tx, { shop, reference: id }, IMAGE_COST);
  if (!spent.applied) throw new Error('a new image id cannot have been debited before');
  await tx.insert(images).values({
    id,
    shop,
    operation: spec.operation,
    status: 'queued',
    filename: `${media.id.split('/').pop() ?? 'media'}.${originalExt(media.url)}`,
    originalPath: originalKey(shop, id, media.url),
    options: spec.options,
  });
  await tx.insert(jobs).values({ id, type: PROCESS_IMAGE, payload: { imageId: id } });
  await tx.insert(mediaRuns).values({
    imageId: id,
    shop,
    mediaId: media.id,
    productId: media.productId,
    apply: spec.apply,
    alt: media.alt,
    ...(spec.batchId ? { batchId: spec.batchId } : {}),
    ...(spec.auto ? { auto: true } : {}),
  });
  return { id, balanceAfter: spent.balanceAfter };
}

export function createCatalogue(deps: CatalogueDeps) {
  const { db, port } = deps;
  const publish = (shop: string, imageId: string) => deps.publish(shop, imageId).catch(() => {});

  async function requireScopes(shop: string) {
    const missing = await port.missingScopes(shop);
    if (missing.length) throw new MissingScopesError(missing);
  }

  async function mediaOrNotFound(shop: string, mediaId: string): Promise<CatalogueMedia> {
    const media = await port.getMedia(shop, mediaId);
    if (!media) throw new NotFoundError('Media not found');
    return media;
  }

  function mediaJson(media: CatalogueMedia, run: RunWithImage | null | undefined): MediaJson {
    return {
      id: media.id,
      url: media.url,
      alt: media.alt,
      width: media.width,
      height: media.height,
      state: mediaState(run),
      image_id: run?.imageId ?? null,
    };
  }

  async function describe(shop: string, media: CatalogueMedia): Promise<MediaJson> {
    return mediaJson(media, (await latestRuns(db, shop, [media.id])).get(media.id));
  }

  return {
    requireScopes,

    async listProducts(shop: string, query: ListQuery) {
      await requireScopes(shop);
      const page = await port.listProducts(shop, query);
      const runs = await latestRuns(db, shop, page.products.flatMap((p) => p.media.map((m) => m.id)));
      return {
        products: page.products.map((p) => ({
          id: p.id,
          title: p.title,
          status: p.status,
          media: p.media.map((m) => mediaJson(m, runs.get(m.id))),
        })),
        next_cursor: page.nextCursor,
      };
    },

    /** POST /products/media/process: all or nothing, one credit each. */
    async process(shop: string, input: { mediaIds: string[]; operation: Operation; options?: Record<string, unknown>; apply: ApplyMode }) {
      await requireScopes(shop);
      const ids = [...new Set(input.mediaIds)];
      const options = await resolveRunOptions(db, shop, input.operation, input.options);
      const media = await Promise.all(ids.map((id) => mediaOrNotFound(shop, id)));
      const runs = await latestRuns(db, shop, ids);
      const busy = ids.filter((id) => isBusy(mediaState(runs.get(id))));
      if (busy.length) throw new CatalogueConflictError(`Already being processed: ${busy.join(', ')}`, 'MEDIA_BUSY');
      let created: Array<{ id: string; mediaId: string }> = [];
      let remaining = 0;
      try {
        await db.transaction(async (tx) => {
          created = [];
          for (const m of media) {
            const run = await insertRun(tx, shop, m, { operation: input.operation, options, apply: input.apply });
            created.push({ id: run.id, mediaId: m.id });
            remaining = run.balanceAfter;
          }
        });
      } catch (err) {
        // The balance seen inside the rolled-back transaction is not the shop's: answer the real one.
        if (err instanceof InsufficientCreditsError) throw new InsufficientCreditsError(await balanceOf(db, shop));
        throw err;
      }
      deps.onAccepted?.(created.length);
      for (const c of created) {
        await deps.enqueue(PROCESS_IMAGE, c.id, { imageId: c.id }).catch(() => {}); // the sweeper repairs a lost enqueue
        await publish(shop, c.id);
      }
      return {
        images: created.map((c) => ({ id: c.id, media_id: c.mediaId, status: 'queued' as const })),
        remaining_credits: remaining,
      };
    },

    /**
     * Before the processor runs (worker): the original is fetched from the
     * catalogue's own hosts and kept, byte for byte, for a restore.
     * Not a catalogue image: nothing to do. Refusals are thrown as they are.
     */
    async prepareSource(image: ImageRow, signal?: AbortSignal): Promise<void> {
      const run = await getRun(db, image.id);
      if (!run || (await deps.storage.exists(image.originalPath))) return;
      const media = await port.getMedia(image.shop, run.mediaId);
      if (!media) throw new NotFoundError('The product media no longer exists');
      const source = await port.downloadSource(image.shop, media, signal);
      await deps.storage.put(image.originalPath, source.data, source.contentType);
    },

    /** After the pipeline processed an image (worker): a run with an apply mode gets its apply job. */
    async afterProcessed(image: ImageRow): Promise<void> {
      const run = await getRun(db, image.id);
      if (!run) return;
      await publish(image.shop, image.id);
      if (run.apply !== 'none') await deps.enqueue(APPLY_MEDIA, applyJobId(image.id), { imageId: image.id, mode: run.apply });
    },

    /** Writes a processed result to the product; a run is applied once (a repeat answers the media as it is). */
    async apply(shop: string, mediaId: string | null, imageId: string, mode: 'replace' | 'add'): Promise<MediaJson> {
      const run = await getRun(db, imageId);
      if (!run || run.shop !== shop || (mediaId !== null && run.mediaId !== mediaId)) throw new NotFoundError('Result not found');
      const media = await mediaOrNotFound(shop, run.mediaId);
      if (run.appliedAt) {
        const current = run.resultMediaId ? await port.getMedia(shop, run.resultMediaId) : null;
        return mediaJson(current ?? media, run);
      }
      if (run.status !== 'processed' || !run.processedPath) {
        throw new CatalogueConflictError('This result is not processed (yet)', 'NOT_PROCESSED');
      }
      const stored = await deps.storage.get(run.processedPath);
      const data = await buffer(stored.body);
      const contentType = stored.contentType && stored.contentType.startsWith('image/') ? stored.contentType : 'image/png';
      const { width, height } = await deps.dimensions(data);
      const written = await port.writeResult(shop, media, {
        data,
        contentType,
        mode,
        alt: run.alt,
        key: imageId,
        width,
        height,
        ...(deps.onResultCreated ? { onCreated: (id: string) => deps.onResultCreated!(shop, id) } : {}),
      });
      await markApplied(db, imageId, mode, written.id);
      await publish(shop, imageId);
      return mediaJson(written, await getRun(db, imageId));
    },

    /** Puts back the original of the newest applied run: byte-identical, same position, alt kept. */
    async restore(shop: string, mediaId: string): Promise<MediaJson> {
      await requireScopes(shop);
      const run = await restorableRun(db, shop, mediaId);
      if (!run || !run.appliedMode || !run.resultMediaId) throw new CatalogueConflictError('Nothing to restore', 'NOTHING_TO_RESTORE');
      if (run.originalRemovedAt || !(await deps.storage.exists(run.originalPath))) {
        throw new CatalogueConflictError('The original is no longer kept', 'ORIGINAL_EXPIRED');
      }
      const stored = await deps.storage.get(run.originalPath);
      const data = await buffer(stored.body);
      const original = { data, contentType: stored.contentType ?? 'image/jpeg', ...(await deps.dimensions(data)) };
      const media = await port.restore(shop, {
        media: { id: run.mediaId, productId: run.productId },
        mode: run.appliedMode as 'replace' | 'add',
        resultMediaId: run.resultMediaId,
        original,
        alt: run.alt,
      });
      await markRestored(db, run.imageId);
      await publish(shop, run.imageId);
      return describe(shop, media);
    },

    async history(shop: string, mediaId: string) {
      await requireScopes(shop);
      const runs = await mediaHistory(db, shop, mediaId);
      if (runs.length === 0) await mediaOrNotFound(shop, mediaId);
      return {
        history: runs.map((r) => ({
          image_id: r.imageId,
          operation: r.operation,
          state: mediaState(r),
          apply: r.apply,
          created_at: r.createdAt.toISOString(),
          applied_at: r.appliedAt?.toISOString() ?? null,
          restored_at: r.restoredAt?.toISOString() ?? null,
        })),
      };
    },

    /** The media event of an image that belongs to a run (null otherwise): `/images/events`. */
    async mediaEvent(shop: string, imageId: string): Promise<{ id: string; state: MediaState; image_id: string } | null> {
      const run = await getRun(db, imageId);
      if (!run || run.shop !== shop) return null;
      return { id: run.mediaId, state: mediaState(run), image_id: imageId };
    },
  };
}

export type Catalogue = ReturnType<typeof createCatalogue>;
