import { randomUUID } from 'node:crypto';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { type Db, queryRows } from '../../adapters/db/client.js';
import { afterKeyset, type Keyset, keysetAt } from '../../adapters/db/keyset.js';
import { catalogueBatches, images, mediaRuns } from '../../adapters/db/schema.js';
import { BATCH_PAGE, batchPageJobId, PROCESS_IMAGE } from '../../jobs/catalogue.js';
import { InsufficientCreditsError, MissingScopesError, NotFoundError } from '../../lib/errors.js';
import { markFailed } from '../images/images.js';
import type { Operation } from '../images/operations.js';
import { type ApplyMode, CatalogueConflictError, insertRun, resolveRunOptions } from './catalogue.js';
import type { CataloguePort, ListQuery } from './port.js';

/**
 * Batches: one operation over chosen products, a collection or the whole
 * catalogue. A page job walks one catalogue page (never the whole catalogue
 * in memory), debits and enqueues its media in one transaction, moves the
 * batch's cursor in the same transaction and enqueues the next page. The page
 * job id is (batch, page) and the batch takes each media once (unique
 * (batch, media)): a killed worker's page is walked again without doubles.
 * Out of credits: the batch pauses with stop_reason INSUFFICIENT_CREDITS at
 * the page it was on; resume walks on from there.
 */

export type BatchScope = { product_ids: string[] } | { collection_id: string } | { all: true };
export type BatchRow = typeof catalogueBatches.$inferSelect;

/** Products per catalogue page (each with its first media). */
export const BATCH_PAGE_PRODUCTS = 50;

export interface BatchDeps {
  db: Db;
  port: CataloguePort;
  enqueue(type: string, id: string, payload: Record<string, unknown>): Promise<void>;
  /** Batch events go on the image event stream as `batch:{id}`. */
  publish(shop: string, id: string): Promise<void>;
  onAccepted?(count: number): void;
  pageSize?: number;
}

export interface BatchCounts {
  total: number;
  queued: number;
  processing: number;
  processed: number;
  applied: number;
  failed: number;
  refunded: number;
}

export const batchEventId = (batchId: string) => `batch:${batchId}`;

function scopeQuery(scope: BatchScope): Omit<ListQuery, 'limit'> {
  if ('product_ids' in scope) return { productIds: scope.product_ids };
  if ('collection_id' in scope) return { collectionId: scope.collection_id };
  return {};
}

export function createBatches(deps: BatchDeps) {
  const { db, port } = deps;
  const pageSize = deps.pageSize ?? BATCH_PAGE_PRODUCTS;
  const publish = (shop: string, id: string) => deps.publish(shop, batchEventId(id)).catch(() => {});

  async function counts(batchIds: string[]): Promise<Map<string, BatchCounts>> {
    const out = new Map<string, BatchCounts>();
    if (batchIds.length === 0) return out;
    const rows = await queryRows<BatchCounts & { batch_id: string }>(
      db,
      sql`
      select r.batch_id,
        count(*)::int as total,
        (count(*) filter (where i.status in ('pending', 'queued')))::int as queued,
        (count(*) filter (where i.status = 'processing'))::int as processing,
        (count(*) filter (where i.status = 'processed' and r.applied_at is null))::int as processed,
        (count(*) filter (where r.applied_at is not null))::int as applied,
        (count(*) filter (where i.status = 'failed'))::int as failed,
        (count(*) filter (where exists (
          select 1 from credit_transactions t
          where t.shop = r.shop and t.reason = 'refund' and t.reference = r.image_id::text)))::int as refunded
      from media_runs r join images i on i.id = r.image_id
      where r.batch_id in (${sql.join(batchIds.map((id) => sql`${id}::uuid`), sql`, `)})
      group by r.batch_id`,
    );
    for (const r of rows) {
      const { batch_id, ...c } = r;
      out.set(batch_id, c);
    }
    return out;
  }

  const ZERO: BatchCounts = { total: 0, queued: 0, processing: 0, processed: 0, applied: 0, failed: 0, refunded: 0 };

  function json(row: BatchRow, c: BatchCounts | undefined) {
    return {
      id: row.id,
      status: row.status,
      scope: row.scope as BatchScope,
      operation: row.operation,
      options: (row.options ?? null) as Record<string, unknown> | null,
      apply: row.apply,
      counts: c ?? ZERO,
      stop_reason: row.stopReason,
      created_at: row.createdAt.toISOString(),
      updated_at: row.updatedAt.toISOString(),
    };
  }

  async function describe(row: BatchRow) {
    return json(row, (await counts([row.id])).get(row.id));
  }

  async function shopBatch(shop: string, id: string): Promise<BatchRow> {
    const [row] = await db.select().from(catalogueBatches).where(and(eq(catalogueBatches.id, id), eq(catalogueBatches.shop, shop)));
    if (!row) throw new NotFoundError('Batch not found');
    return row;
  }

  const enqueuePage = (row: Pick<BatchRow, 'id' | 'pages'>) =>
    deps.enqueue(BATCH_PAGE, batchPageJobId(row.id, row.pages), { batchId: row.id, page: row.pages });

  /** Done when the walk is over and every run is terminal (an apply still to come counts as running). */
  async function finishIfDone(batchId: string): Promise<boolean> {
    const rows = await db
      .update(catalogueBatches)
      .set({ status: 'done', updatedAt: sql`now()` })
      .where(
        and(
          eq(catalogueBatches.id, batchId),
          eq(catalogueBatches.status, 'running'),
          eq(catalogueBatches.walkDone, true),
          sql`not exists (
            select 1 from media_runs r join images i on i.id = r.image_id
            where r.batch_id = ${batchId}::uuid and (
              i.status in ('pending', 'queued', 'processing')
              or (i.status = 'processed' and r.apply <> 'none' and r.applied_at is null and r.apply_error is null)))`,
        ),
      )
      .returning({ id: catalogueBatches.id });
    return rows.length > 0;
  }

  /** Enqueues (again) what a walked page leads to: its queued images and the next page; job ids make repeats harmless. */
  async function repairAfter(batch: BatchRow) {
    const queued = await db
      .select({ id: images.id })
      .from(mediaRuns)
      .innerJoin(images, eq(images.id, mediaRuns.imageId))
      .where(and(eq(mediaRuns.batchId, batch.id), inArray(images.status, ['pending', 'queued'])));
    for (const q of queued) await deps.enqueue(PROCESS_IMAGE, q.id, { imageId: q.id });
    if (!batch.walkDone) await enqueuePage(batch);
    else await finishIfDone(batch.id);
  }

  return {
    async start(shop: string, input: { scope: BatchScope; operation: Operation; options?: Record<string, unknown>; apply: ApplyMode }) {
      const missing = await port.missingScopes(shop);
      if (missing.length) throw new MissingScopesError(missing);
      const options = await resolveRunOptions(db, shop, input.operation, input.options);
      const id = randomUUID();
      const [row] = await db
        .insert(catalogueBatches)
        .values({ id, shop, scope: input.scope, operation: input.operation, options, apply: input.apply })
        .returning();
      await enqueuePage(row!).catch(() => {}); // resumeStalled repairs a lost enqueue
      await publish(shop, id);
      return describe(row!);
    },

    async get(shop: string, id: string) {
      return describe(await shopBatch(shop, id));
    },

    async list(shop: string, opts: { limit: number; after?: Keyset }) {
      const rows = await db
        .select({ row: catalogueBatches, at: keysetAt(catalogueBatches.createdAt) })
        .from(catalogueBatches)
        .where(
          and(eq(catalogueBatches.shop, shop), opts.after ? afterKeyset(catalogueBatches.createdAt, catalogueBatches.id, opts.after) : undefined),
        )
        .orderBy(desc(catalogueBatches.createdAt), desc(catalogueBatches.id))
        .limit(opts.limit + 1);
      const page = rows.slice(0, opts.limit);
      const c = await counts(page.map((r) => r.row.id));
      const last = page.at(-1);
      return {
        batches: page.map((r) => json(r.row, c.get(r.row.id))),
        next: rows.length > opts.limit && last ? { at: last.at, id: last.row.id } : null,
      };
    },

    /** Stops the walk; images still queued are failed and refunded (those processing finish). */
    async cancel(shop: string, id: string) {
      const row = await shopBatch(shop, id);
      if (row.status === 'done' || row.status === 'cancelled') return describe(row);
      await db
        .update(catalogueBatches)
        .set({ status: 'cancelled', updatedAt: sql`now()` })
        .where(and(eq(catalogueBatches.id, id), inArray(catalogueBatches.status, ['running', 'paused'])));
      const queued = await db
        .select({ id: images.id })
        .from(mediaRuns)
        .innerJoin(images, eq(images.id, mediaRuns.imageId))
        .where(and(eq(mediaRuns.batchId, id), inArray(images.status, ['pending', 'queued'])));
      for (const image of queued) {
        await markFailedIfQueued(db, image.id);
        await deps.publish(shop, image.id).catch(() => {});
      }
      await publish(shop, id);
      return describe(await shopBatch(shop, id));
    },

    /** A paused batch walks on from where it stopped. */
    async resume(shop: string, id: string) {
      const row = await shopBatch(shop, id);
      if (row.status !== 'paused') throw new CatalogueConflictError('Only a paused batch can be resumed', 'NOT_PAUSED');
      const [updated] = await db
        .update(catalogueBatches)
        .set({ status: 'running', stopReason: null, updatedAt: sql`now()` })
        .where(and(eq(catalogueBatches.id, id), eq(catalogueBatches.status, 'paused')))
        .returning();
      if (updated) {
        if (updated.walkDone) await finishIfDone(id);
        // A new job id per resume: the page job that paused has completed.
        else await deps.enqueue(BATCH_PAGE, `${batchPageJobId(id, updated.pages)}-r${Date.now()}`, { batchId: id, page: updated.pages });
      }
      await publish(shop, id);
      return describe(await shopBatch(shop, id));
    },

    /** The page job: walks page `page` of the batch; a stale or repeated page does nothing. */
    async walkPage(batchId: string, page: number): Promise<void> {
      const [batch] = await db.select().from(catalogueBatches).where(eq(catalogueBatches.id, batchId));
      if (!batch || batch.status !== 'running') return;
      if (batch.pages !== page || batch.walkDone) {
        // This page was walked and committed, but the worker died before the follow-ups: do them again.
        if (batch.pages === page + 1) await repairAfter(batch);
        return;
      }
      const result = await port.listProducts(batch.shop, {
        ...scopeQuery(batch.scope as BatchScope),
        ...(batch.cursor ? { cursor: batch.cursor } : {}),
        limit: pageSize,
      });
      const media = result.products.flatMap((p) => p.media);
      const taken = new Set(
        media.length
          ? (
              await db
                .select({ mediaId: mediaRuns.mediaId })
                .from(mediaRuns)
                .where(and(eq(mediaRuns.batchId, batchId), inArray(mediaRuns.mediaId, media.map((m) => m.id))))
            ).map((r) => r.mediaId)
          : [],
      );
      const spec = { operation: batch.operation, options: batch.options as never, apply: batch.apply, batchId };
      const created: string[] = [];
      let short = false;
      const moved = await db.transaction(async (tx) => {
        for (const m of media) {
          if (taken.has(m.id)) continue;
          try {
            created.push((await insertRun(tx, batch.shop, m, spec)).id);
          } catch (err) {
            if (!(err instanceof InsufficientCreditsError)) throw err;
            short = true;
            break;
          }
        }
        const rows = await tx
          .update(catalogueBatches)
          .set(
            short
              ? { status: 'paused', stopReason: 'INSUFFICIENT_CREDITS', updatedAt: sql`now()` }
              : { cursor: result.nextCursor, pages: page + 1, walkDone: result.nextCursor === null, updatedAt: sql`now()` },
          )
          .where(and(eq(catalogueBatches.id, batchId), eq(catalogueBatches.status, 'running'), eq(catalogueBatches.pages, page)))
          .returning();
        // Cancelled (or walked) meanwhile: nothing of this page happens.
        if (rows.length === 0) tx.rollback();
        return rows[0]!;
      }).catch((err: unknown) => {
        if (err instanceof Error && err.name === 'TransactionRollbackError') return null;
        throw err;
      });
      if (!moved) return;
      if (created.length) deps.onAccepted?.(created.length);
      for (const id of created) await deps.enqueue(PROCESS_IMAGE, id, { imageId: id }).catch(() => {});
      if (!short && !moved.walkDone) await enqueuePage(moved);
      if (moved.walkDone) await finishIfDone(batchId);
      await publish(batch.shop, batchId);
    },

    /** An image of a batch changed: the batch may be done; its watchers get an event. */
    async onImageChanged(imageId: string): Promise<void> {
      const [run] = await db.select({ batchId: mediaRuns.batchId, shop: mediaRuns.shop }).from(mediaRuns).where(eq(mediaRuns.imageId, imageId));
      if (!run?.batchId) return;
      await finishIfDone(run.batchId);
      await publish(run.shop, run.batchId);
    },

    /** Sweeper: running batches whose page job was lost walk on; finished ones are marked done. */
    async resumeStalled(olderThanS: number): Promise<void> {
      const stalled = await db
        .select()
        .from(catalogueBatches)
        .where(and(eq(catalogueBatches.status, 'running'), sql`${catalogueBatches.updatedAt} < now() - make_interval(secs => ${olderThanS})`))
        .limit(100);
      for (const b of stalled) {
        if (b.walkDone) await finishIfDone(b.id);
        else await deps.enqueue(BATCH_PAGE, `${batchPageJobId(b.id, b.pages)}-s${Math.floor(Date.now() / 60_000)}`, { batchId: b.id, page: b.pages });
      }
    },
  };
}

/** Fails a batch image that no worker has started (cancel): refunded once, like any failure. */
async function markFailedIfQueued(db: Db, imageId: string): Promise<void> {
  const [row] = await db.select({ status: images.status }).from(images).where(eq(images.id, imageId));
  if (row && (row.status === 'queued' || row.status === 'pending')) await markFailed(db, imageId, 'Cancelled with its batch');
}

export type Batches = ReturnType<typeof createBatches>;
