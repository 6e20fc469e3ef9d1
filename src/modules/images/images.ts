import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../../adapters/db/client.js';
import { afterKeyset, type Keyset, keysetAt, newestFirst } from '../../adapters/db/keyset.js';
import { images, type IMAGE_STATUSES, jobs } from '../../adapters/db/schema.js';
import { refund } from '../ledger/ledger.js';

export type ImageStatus = (typeof IMAGE_STATUSES)[number];
export type ImageRow = typeof images.$inferSelect;

/** Credits one operation costs. */
export const IMAGE_COST = 1;

/**
 * The state machine: pending -> queued -> processing -> processed | failed,
 * forward only. Each transition is one conditional UPDATE, so a stale or
 * repeated call changes nothing.
 */
export async function markProcessing(db: DbOrTx, id: string): Promise<ImageRow | null> {
  const [row] = await db
    .update(images)
    .set({
      status: 'processing',
      attempts: sql`${images.attempts} + 1`,
      startedAt: sql`coalesce(${images.startedAt}, now())`,
      updatedAt: sql`now()`,
    })
    // processing -> processing: a retry or a restart after a crash resumes the same image.
    .where(and(eq(images.id, id), inArray(images.status, ['pending', 'queued', 'processing'])))
    .returning();
  return row ?? null;
}

export async function saveProviderTaskId(db: DbOrTx, id: string, taskId: string): Promise<void> {
  await db
    .update(images)
    .set({ providerTaskId: taskId, updatedAt: sql`now()` })
    .where(and(eq(images.id, id), sql`${images.providerTaskId} is null`));
}

/** A provider submit is about to go out (see images.providerSubmitStartedAt). */
export async function recordSubmitIntent(db: DbOrTx, id: string): Promise<void> {
  await db
    .update(images)
    .set({ providerSubmitStartedAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(eq(images.id, id), sql`${images.providerTaskId} is null`));
}

/** The submit surely created no task (refused or never sent): a later run may submit again. */
export async function clearSubmitIntent(db: DbOrTx, id: string): Promise<void> {
  await db.update(images).set({ providerSubmitStartedAt: null }).where(eq(images.id, id));
}

export async function markProcessed(db: DbOrTx, id: string, processedPath: string): Promise<ImageRow | null> {
  const [row] = await db
    .update(images)
    .set({ status: 'processed', processedPath, errorMessage: null, finishedAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(eq(images.id, id), eq(images.status, 'processing')))
    .returning();
  return row ?? null;
}

/**
 * Fails an image that has not finished and refunds its debit, in one
 * transaction. The refund's ledger reference is the image id: at most once.
 */
export async function markFailed(db: Db, id: string, message: string): Promise<ImageRow | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(images)
      .set({ status: 'failed', errorMessage: message.slice(0, 1000), finishedAt: sql`now()`, updatedAt: sql`now()` })
      .where(and(eq(images.id, id), inArray(images.status, ['pending', 'queued', 'processing'])))
      .returning();
    if (!row) return null;
    await refund(tx, row.shop, row.id, IMAGE_COST);
    await tx
      .update(jobs)
      .set({ status: 'failed', lastError: message.slice(0, 1000), updatedAt: sql`now()` })
      .where(eq(jobs.id, id));
    return row;
  });
}

export async function getImage(db: DbOrTx, id: string): Promise<ImageRow | null> {
  const [row] = await db.select().from(images).where(eq(images.id, id));
  return row ?? null;
}

/** The shop's image; null for another shop's image or none (same answer: no leak). */
export async function getShopImage(db: DbOrTx, shop: string, id: string): Promise<ImageRow | null> {
  const [row] = await db
    .select()
    .from(images)
    .where(and(eq(images.id, id), eq(images.shop, shop)));
  return row ?? null;
}

export async function listImages(
  db: DbOrTx,
  shop: string,
  opts: { status?: ImageStatus; limit: number; after?: Keyset },
): Promise<Array<ImageRow & { at: string }>> {
  return db
    .select({ ...imageColumns, at: keysetAt(images.createdAt) })
    .from(images)
    .where(
      and(
        eq(images.shop, shop),
        opts.status ? eq(images.status, opts.status) : undefined,
        opts.after ? afterKeyset(images.createdAt, images.id, opts.after) : undefined,
      ),
    )
    .orderBy(...newestFirst(images.createdAt, images.id))
    .limit(opts.limit);
}

const imageColumns = {
  id: images.id,
  shop: images.shop,
  operation: images.operation,
  status: images.status,
  filename: images.filename,
  originalPath: images.originalPath,
  processedPath: images.processedPath,
  providerTaskId: images.providerTaskId,
  providerSubmitStartedAt: images.providerSubmitStartedAt,
  attempts: images.attempts,
  errorMessage: images.errorMessage,
  options: images.options,
  createdAt: images.createdAt,
  updatedAt: images.updatedAt,
  startedAt: images.startedAt,
  finishedAt: images.finishedAt,
};

export interface DashboardStats {
  total: number;
  queued: number;
  processing: number;
  failed: number;
  completed: number;
}

/** Counts by status with one aggregate query, and the 5 newest processed images. */
export async function dashboardStats(db: DbOrTx, shop: string): Promise<{ stats: DashboardStats; recent: ImageRow[] }> {
  const [counts] = await db
    .select({
      total: sql<number>`count(*)::int`,
      queued: sql<number>`(count(*) filter (where ${images.status} in ('pending', 'queued')))::int`,
      processing: sql<number>`(count(*) filter (where ${images.status} = 'processing'))::int`,
      failed: sql<number>`(count(*) filter (where ${images.status} = 'failed'))::int`,
      completed: sql<number>`(count(*) filter (where ${images.status} = 'processed'))::int`,
    })
    .from(images)
    .where(eq(images.shop, shop));
  const recent = await db
    .select()
    .from(images)
    .where(and(eq(images.shop, shop), eq(images.status, 'processed')))
    .orderBy(...newestFirst(images.createdAt, images.id))
    .limit(5);
  return { stats: counts ?? { total: 0, queued: 0, processing: 0, failed: 0, completed: 0 }, recent };
}

/** Images stuck in `queued` (a lost enqueue) or `processing` (a lost worker) since before `olderThan`. */
export async function findStuckImages(db: DbOrTx, olderThanQueuedS: number, olderThanProcessingS: number, limit = 100) {
  return db
    .select({ id: images.id, status: images.status })
    .from(images)
    .where(
      sql`(${images.status} = 'queued' and ${images.updatedAt} < now() - make_interval(secs => ${olderThanQueuedS}))
        or (${images.status} = 'processing' and ${images.updatedAt} < now() - make_interval(secs => ${olderThanProcessingS}))`,
    )
    .limit(limit);
}
