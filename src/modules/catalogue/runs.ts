import { and, desc, eq, inArray, isNotNull, isNull, or, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../adapters/db/client.js';
import { images, mediaRuns } from '../../adapters/db/schema.js';
import type { ImageStatus } from '../images/images.js';

/** The media_runs repository: one row per pipeline run on a product media. */

export type RunRow = typeof mediaRuns.$inferSelect;
export type RunWithImage = RunRow & { status: ImageStatus; operation: string; processedPath: string | null; originalPath: string };

const withImage = {
  imageId: mediaRuns.imageId,
  shop: mediaRuns.shop,
  mediaId: mediaRuns.mediaId,
  productId: mediaRuns.productId,
  apply: mediaRuns.apply,
  batchId: mediaRuns.batchId,
  auto: mediaRuns.auto,
  alt: mediaRuns.alt,
  appliedMode: mediaRuns.appliedMode,
  resultMediaId: mediaRuns.resultMediaId,
  appliedAt: mediaRuns.appliedAt,
  restoredAt: mediaRuns.restoredAt,
  applyError: mediaRuns.applyError,
  originalRemovedAt: mediaRuns.originalRemovedAt,
  createdAt: mediaRuns.createdAt,
  status: images.status,
  operation: images.operation,
  processedPath: images.processedPath,
  originalPath: images.originalPath,
};

/** A run touches a media when it ran on it, or when it added the media as its result. */
const touches = (mediaIds: string[]) =>
  or(inArray(mediaRuns.mediaId, mediaIds), and(eq(mediaRuns.appliedMode, 'add'), inArray(mediaRuns.resultMediaId, mediaIds)));

export async function getRun(db: DbOrTx, imageId: string): Promise<RunWithImage | null> {
  const [row] = await db.select(withImage).from(mediaRuns).innerJoin(images, eq(images.id, mediaRuns.imageId)).where(eq(mediaRuns.imageId, imageId));
  return row ?? null;
}

/** The newest run of each media (by the media it ran on, or the media it added). */
export async function latestRuns(db: DbOrTx, shop: string, mediaIds: string[]): Promise<Map<string, RunWithImage>> {
  const out = new Map<string, RunWithImage>();
  if (mediaIds.length === 0) return out;
  const rows = await db
    .select(withImage)
    .from(mediaRuns)
    .innerJoin(images, eq(images.id, mediaRuns.imageId))
    .where(and(eq(mediaRuns.shop, shop), touches(mediaIds)))
    .orderBy(desc(mediaRuns.createdAt), desc(mediaRuns.imageId));
  const wanted = new Set(mediaIds);
  for (const row of rows) {
    const key = row.appliedMode === 'add' && row.resultMediaId && wanted.has(row.resultMediaId) ? row.resultMediaId : row.mediaId;
    if (!out.has(key)) out.set(key, row);
  }
  return out;
}

export async function mediaHistory(db: DbOrTx, shop: string, mediaId: string): Promise<RunWithImage[]> {
  return db
    .select(withImage)
    .from(mediaRuns)
    .innerJoin(images, eq(images.id, mediaRuns.imageId))
    .where(and(eq(mediaRuns.shop, shop), touches([mediaId])))
    .orderBy(desc(mediaRuns.createdAt), desc(mediaRuns.imageId))
    .limit(200);
}

/** The newest applied run of the media that was not restored yet. */
export async function restorableRun(db: DbOrTx, shop: string, mediaId: string): Promise<RunWithImage | null> {
  const [row] = await db
    .select(withImage)
    .from(mediaRuns)
    .innerJoin(images, eq(images.id, mediaRuns.imageId))
    .where(and(eq(mediaRuns.shop, shop), touches([mediaId]), isNotNull(mediaRuns.appliedAt), isNull(mediaRuns.restoredAt)))
    .orderBy(desc(mediaRuns.appliedAt))
    .limit(1);
  return row ?? null;
}

/** Records where a result went; false when it was applied already (a second apply changes nothing). */
export async function markApplied(db: DbOrTx, imageId: string, mode: 'replace' | 'add', resultMediaId: string): Promise<boolean> {
  const rows = await db
    .update(mediaRuns)
    .set({ appliedMode: mode, resultMediaId, appliedAt: sql`now()` })
    .where(and(eq(mediaRuns.imageId, imageId), isNull(mediaRuns.appliedAt)))
    .returning({ id: mediaRuns.imageId });
  return rows.length > 0;
}

export async function markRestored(db: DbOrTx, imageId: string): Promise<boolean> {
  const rows = await db
    .update(mediaRuns)
    .set({ restoredAt: sql`now()` })
    .where(and(eq(mediaRuns.imageId, imageId), isNotNull(mediaRuns.appliedAt), isNull(mediaRuns.restoredAt)))
    .returning({ id: mediaRuns.imageId });
  return rows.length > 0;
}


export async function markApplyFailed(db: DbOrTx, imageId: string, message: string): Promise<void> {
  await db
    .update(mediaRuns)
    .set({ applyError: message.slice(0, 1000) })
    .where(and(eq(mediaRuns.imageId, imageId), isNull(mediaRuns.appliedAt)));
}

/** Processed runs waiting for an apply that never came (a lost job), older than `olderThanS`. */
export async function findUnappliedRuns(db: DbOrTx, olderThanS: number, limit = 100) {
  return db
    .select({ imageId: mediaRuns.imageId, apply: mediaRuns.apply })
    .from(mediaRuns)
    .innerJoin(images, eq(images.id, mediaRuns.imageId))
    .where(
      and(
        eq(images.status, 'processed'),
        sql`${mediaRuns.apply} <> 'none'`,
        isNull(mediaRuns.appliedAt),
        isNull(mediaRuns.applyError),
        sql`${images.finishedAt} < now() - make_interval(secs => ${olderThanS})`,
      ),
    )
    .limit(limit);
}

/**
 * Kept originals that are no longer needed: restored (the store has them
 * again), or applied longer than `days` ago (past the restore window), or a
 * result never applied and finished longer than `days` ago.
 */
export async function findExpiredOriginals(db: DbOrTx, days: number, limit = 200) {
  return db
    .select({ imageId: mediaRuns.imageId, originalPath: images.originalPath })
    .from(mediaRuns)
    .innerJoin(images, eq(images.id, mediaRuns.imageId))
    .where(
      and(
        isNull(mediaRuns.originalRemovedAt),
        sql`(${mediaRuns.restoredAt} is not null
          or ${mediaRuns.appliedAt} < now() - make_interval(days => ${days})
          or (${mediaRuns.appliedAt} is null and ${images.status} in ('processed', 'failed')
              and ${images.updatedAt} < now() - make_interval(days => ${days})))`,
      ),
    )
    .limit(limit);
}

export async function markOriginalRemoved(db: DbOrTx, imageId: string): Promise<void> {
  await db.update(mediaRuns).set({ originalRemovedAt: sql`now()` }).where(eq(mediaRuns.imageId, imageId));
}
