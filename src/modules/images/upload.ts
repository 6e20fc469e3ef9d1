import { isUniqueViolation } from '../../adapters/db/errors.js';
import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../../adapters/db/client.js';
import { idempotencyKeys, images, jobs } from '../../adapters/db/schema.js';
import { InvalidInputError } from '../../lib/errors.js';
import { PROCESS_IMAGE } from '../../jobs/catalogue.js';
import { debit } from '../ledger/ledger.js';
import { IMAGE_COST } from './images.js';
import type { Finishing } from './finishing.js';
import type { Operation } from './operations.js';

export interface InspectedImage {
  /** Extension of the detected format: png, jpg, webp, gif, avif, tif. */
  ext: string;
  contentType: string;
  width: number;
  height: number;
}

export interface UploadDeps {
  db: Db;
  storage: { put(key: string, data: Buffer, contentType: string): Promise<void>; delete(key: string): Promise<void> };
  /** Decodes the bytes; throws UnsupportedMediaTypeError or PayloadTooLargeError. */
  inspect(data: Buffer): Promise<InspectedImage>;
  /** Called after the transaction commits; a lost call is repaired by the sweeper. */
  enqueue(imageId: string): Promise<void>;
  /** A new image was accepted and its credit debited (not called for replays). */
  onAccepted?(operation: Operation): void;
}

export interface UploadInput {
  shop: string;
  filename: string;
  data: Buffer;
  operation: Operation;
  idempotencyKey?: string;
  /** Resolved finishing options stored with the image (images.options); null or absent: a plain result. */
  options?: Finishing | null;
}

export interface UploadAnswer {
  id: string;
  filename: string;
  status: 'queued';
  job_id: string;
  celery_job_id: string;
  remaining_credits: number;
}

const IDEMPOTENCY_TTL = sql`interval '24 hours'`;

/** A name safe to show and store: the last path segment, printable, at most 255 characters. */
export function cleanFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex -- strip control characters
  const printable = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return printable.slice(0, 255) || 'image';
}

export function checkIdempotencyKey(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw new InvalidInputError('Idempotency-Key must be 1 to 255 printable ASCII characters', 'INVALID_IDEMPOTENCY_KEY');
  }
  return key;
}

/**
 * POST /upload: store the file, then in ONE transaction debit a credit, create
 * the image and its job record (and the idempotency answer). Out of credits:
 * nothing is left behind. Anything failing after the file was stored removes it.
 */
export function createUploads(deps: UploadDeps) {
  async function replay(shop: string, key: string): Promise<UploadAnswer | null> {
    const [row] = await deps.db
      .select({ response: idempotencyKeys.response })
      .from(idempotencyKeys)
      .where(
        and(
          eq(idempotencyKeys.shop, shop),
          eq(idempotencyKeys.key, key),
          sql`${idempotencyKeys.createdAt} > now() - ${IDEMPOTENCY_TTL}`,
        ),
      );
    return (row?.response as UploadAnswer | undefined) ?? null;
  }

  async function accept(input: UploadInput): Promise<UploadAnswer> {
    const key = checkIdempotencyKey(input.idempotencyKey);
    if (key) {
      const earlier = await replay(input.shop, key);
      if (earlier) return earlier;
      // An expired answer makes room for a new one.
      await deps.db
        .delete(idempotencyKeys)
        .where(
          and(
            eq(idempotencyKeys.shop, input.shop),
            eq(idempotencyKeys.key, key),
            sql`${idempotencyKeys.createdAt} <= now() - ${IDEMPOTENCY_TTL}`,
          ),
        );
    }

    const image = await deps.inspect(input.data);
    const id = randomUUID();
    const filename = cleanFilename(input.filename);
    const originalPath = `${input.shop}/upload/${id}.${image.ext}`;
    await deps.storage.put(originalPath, input.data, image.contentType);

    let answer: UploadAnswer;
    try {
      answer = await deps.db.transaction(async (tx) => {
        // The key is claimed before the debit: a concurrent request with the same key waits on this row
        // (or finds it) and answers with ours, instead of racing us for the last credit.
        if (key) await tx.insert(idempotencyKeys).values({ shop: input.shop, key, statusCode: 202, response: {} });
        const spent = await debit(tx, { shop: input.shop, reference: id }, IMAGE_COST);
        if (!spent.applied) throw new Error('a new image id cannot have been debited before');
        await tx
          .insert(images)
          .values({ id, shop: input.shop, operation: input.operation, status: 'queued', filename, originalPath, options: input.options ?? null });
        await tx.insert(jobs).values({ id, type: PROCESS_IMAGE, payload: { imageId: id } });
        const body: UploadAnswer = {
          id,
          filename,
          status: 'queued',
          job_id: id,
          celery_job_id: id,
          remaining_credits: spent.balanceAfter,
        };
        if (key) {
          await tx
            .update(idempotencyKeys)
            .set({ response: body })
            .where(and(eq(idempotencyKeys.shop, input.shop), eq(idempotencyKeys.key, key)));
        }
        return body;
      });
    } catch (err) {
      await deps.storage.delete(originalPath).catch(() => {});
      // The same key won a race with us: its answer is the answer.
      if (key && isUniqueViolation(err)) {
        const earlier = await replay(input.shop, key);
        if (earlier) return earlier;
      }
      throw err;
    }

    deps.onAccepted?.(input.operation);
    await deps.enqueue(id).catch(() => {
      // The job record is committed: the sweeper enqueues it again.
    });
    return answer;
  }

  return { accept };
}

export type Uploads = ReturnType<typeof createUploads>;
