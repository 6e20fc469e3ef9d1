import { and, eq, or, sql } from 'drizzle-orm';
import type { Db } from '../../adapters/db/client.js';
import { autoSeenMedia, mediaRuns, settings } from '../../adapters/db/schema.js';
import { PROCESS_IMAGE } from '../../jobs/catalogue.js';
import { InsufficientCreditsError, InvalidInputError } from '../../lib/errors.js';
import { resolveFinishing } from '../images/finishing.js';
import { normalizeOperation, type Operation } from '../images/operations.js';
import { type ApplyMode, insertRun, resolveRunOptions } from './catalogue.js';
import type { CatalogueMedia, CataloguePort } from './port.js';

/**
 * Automation: the products/create and products/update webhooks process each
 * new image media of a product once, with the shop's `auto_process` setting.
 * A media is new when no run ever took it, it is not a result we wrote
 * (the loop guard: results are marked seen before they reach the product),
 * and it was not seen before (auto_seen_media, a unique key: two deliveries
 * racing take it once). Out of credits or at the daily cap, the automation
 * pauses with a visible reason and takes the media of a later event once
 * it can again (a media skipped then is not marked seen).
 */

export interface AutoProcess {
  enabled: boolean;
  operation: Operation;
  options: Record<string, unknown>;
  apply: ApplyMode;
  daily_cap: number;
}

export interface AutoProcessState extends AutoProcess {
  /** Why the automation is not processing right now (`INSUFFICIENT_CREDITS`, `DAILY_CAP`), or null. */
  paused_reason: string | null;
  paused_at: string | null;
}

export const DEFAULT_AUTO_PROCESS: AutoProcess = { enabled: false, operation: 'remove-bg', options: {}, apply: 'none', daily_cap: 100 };
export const MAX_DAILY_CAP = 10_000;

interface Stored extends Partial<AutoProcess> {
  paused_reason?: string | null;
  paused_at?: string | null;
}

/** Validates a saved `auto_process` value over the current one (partial updates). */
export function resolveAutoProcess(given: Partial<AutoProcess>, base: AutoProcess = DEFAULT_AUTO_PROCESS): AutoProcess {
  const out = { ...base, ...given };
  const op = normalizeOperation(out.operation);
  if (!op) throw new InvalidInputError('auto_process.operation must be remove-bg, upscale or downscale', 'INVALID_AUTO_PROCESS');
  out.operation = op;
  if (!['replace', 'add', 'none'].includes(out.apply)) throw new InvalidInputError('auto_process.apply must be replace, add or none', 'INVALID_AUTO_PROCESS');
  if (!Number.isInteger(out.daily_cap) || out.daily_cap < 0 || out.daily_cap > MAX_DAILY_CAP) {
    throw new InvalidInputError(`auto_process.daily_cap must be an integer from 0 to ${MAX_DAILY_CAP}`, 'INVALID_AUTO_PROCESS');
  }
  resolveFinishing(out.options ?? {}); // 400 INVALID_FINISHING for bad options
  return { enabled: Boolean(out.enabled), operation: out.operation, options: out.options ?? {}, apply: out.apply, daily_cap: out.daily_cap };
}

export async function getAutoProcess(db: Db, shop: string): Promise<AutoProcessState> {
  const [row] = await db.select({ autoProcess: settings.autoProcess }).from(settings).where(eq(settings.shop, shop));
  const stored = (row?.autoProcess ?? {}) as Stored;
  const { paused_reason, paused_at, ...rest } = stored;
  return { ...resolveAutoProcessLenient(rest), paused_reason: paused_reason ?? null, paused_at: paused_at ?? null };
}

function resolveAutoProcessLenient(stored: Partial<AutoProcess>): AutoProcess {
  try {
    return resolveAutoProcess(stored);
  } catch {
    return DEFAULT_AUTO_PROCESS;
  }
}

/** Saves the setting; a save clears a pause (the merchant saw it and acted). */
export async function saveAutoProcess(db: Db, shop: string, given: Partial<AutoProcess>): Promise<AutoProcessState> {
  const current = await getAutoProcess(db, shop);
  const next = resolveAutoProcess(given, current);
  await db
    .insert(settings)
    .values({ shop, backgroundRemoval: false, optimizeImages: false, autoProcess: next })
    .onConflictDoUpdate({ target: settings.shop, set: { autoProcess: next, updatedAt: sql`now()` } });
  return { ...next, paused_reason: null, paused_at: null };
}

async function setPaused(db: Db, shop: string, reason: string | null) {
  const patch = reason ? { paused_reason: reason, paused_at: new Date().toISOString() } : { paused_reason: null, paused_at: null };
  await db
    .update(settings)
    .set({ autoProcess: sql`coalesce(${settings.autoProcess}, '{}'::jsonb) || ${JSON.stringify(patch)}::jsonb` })
    .where(eq(settings.shop, shop));
}

interface WebhookMedia {
  admin_graphql_api_id?: unknown;
  media_content_type?: unknown;
  alt?: unknown;
  preview_image?: { src?: unknown; width?: unknown; height?: unknown } | null;
}

/** The image media of a products/* payload (REST shape: `media[]` with `admin_graphql_api_id`). */
export function mediaOfPayload(payload: Record<string, unknown>): { productId: string; media: CatalogueMedia[] } | null {
  const productId = payload.admin_graphql_api_id;
  if (typeof productId !== 'string' || !/^gid:\/\/shopify\/Product\/\d+$/.test(productId)) return null;
  const list = Array.isArray(payload.media) ? (payload.media as WebhookMedia[]) : [];
  const media = list
    .filter((m) => m.media_content_type === 'IMAGE' && typeof m.admin_graphql_api_id === 'string' && /^gid:\/\/shopify\/MediaImage\/\d+$/.test(m.admin_graphql_api_id))
    .map((m) => ({
      id: m.admin_graphql_api_id as string,
      productId,
      url: typeof m.preview_image?.src === 'string' ? m.preview_image.src : '',
      alt: typeof m.alt === 'string' ? m.alt : null,
      width: typeof m.preview_image?.width === 'number' ? m.preview_image.width : null,
      height: typeof m.preview_image?.height === 'number' ? m.preview_image.height : null,
      status: 'READY',
    }));
  return { productId, media };
}

export function createAutomation(deps: {
  db: Db;
  port: CataloguePort;
  enqueue(type: string, id: string, payload: Record<string, unknown>): Promise<void>;
  publish(shop: string, imageId: string): Promise<void>;
}) {
  const { db } = deps;

  /** Marks a media we wrote (an added result) as seen, before it reaches the product: the loop guard. */
  async function markOurs(shop: string, mediaId: string): Promise<void> {
    await db.insert(autoSeenMedia).values({ shop, mediaId }).onConflictDoNothing();
  }

  async function isKnown(shop: string, mediaId: string): Promise<boolean> {
    const [run] = await db
      .select({ id: mediaRuns.imageId })
      .from(mediaRuns)
      .where(and(eq(mediaRuns.shop, shop), or(eq(mediaRuns.mediaId, mediaId), eq(mediaRuns.resultMediaId, mediaId))))
      .limit(1);
    if (run) return true;
    const [seen] = await db
      .select({ id: autoSeenMedia.mediaId })
      .from(autoSeenMedia)
      .where(and(eq(autoSeenMedia.shop, shop), eq(autoSeenMedia.mediaId, mediaId)));
    return !!seen;
  }

  async function todayCount(shop: string): Promise<number> {
    const [row] = await db
      .select({ n: sql<number>`count(*)::int` })
      .from(mediaRuns)
      .where(and(eq(mediaRuns.shop, shop), eq(mediaRuns.auto, true), sql`${mediaRuns.createdAt} >= date_trunc('day', now() at time zone 'utc') at time zone 'utc'`));
    return row?.n ?? 0;
  }

  return {
    markOurs,

    /** products/create, products/update: the new image media are processed once. */
    async onProductEvent(shop: string, payload: Record<string, unknown>): Promise<{ queued: number; skipped: number; paused: string | null }> {
      const setting = await getAutoProcess(db, shop);
      const parsed = mediaOfPayload(payload);
      if (!setting.enabled || !parsed || parsed.media.length === 0) return { queued: 0, skipped: 0, paused: null };
      await deps.port.noteMedia?.(shop, parsed.productId, parsed.media.map((m) => m.id));
      const fresh: CatalogueMedia[] = [];
      for (const m of parsed.media) if (!(await isKnown(shop, m.id))) fresh.push(m);
      if (fresh.length === 0) return { queued: 0, skipped: parsed.media.length, paused: null };

      const options = await resolveRunOptions(db, shop, setting.operation, setting.options);
      let room = Math.max(0, setting.daily_cap - (await todayCount(shop)));
      let paused: string | null = null;
      const queued: string[] = [];
      for (const m of fresh) {
        if (room <= 0) {
          paused = 'DAILY_CAP';
          break;
        }
        try {
          const id = await db.transaction(async (tx) => {
            // Seen and debited together: a second delivery racing this one takes the media at most once.
            const seen = await tx.insert(autoSeenMedia).values({ shop, mediaId: m.id }).onConflictDoNothing().returning();
            if (seen.length === 0) return null;
            return (await insertRun(tx, shop, m, { operation: setting.operation, options, apply: setting.apply, auto: true })).id;
          });
          if (id) {
            queued.push(id);
            room--;
          }
        } catch (err) {
          if (!(err instanceof InsufficientCreditsError)) throw err;
          paused = 'INSUFFICIENT_CREDITS';
          break;
        }
      }
      if (paused !== setting.paused_reason) await setPaused(db, shop, paused);
      for (const id of queued) {
        await deps.enqueue(PROCESS_IMAGE, id, { imageId: id }).catch(() => {});
        await deps.publish(shop, id).catch(() => {});
      }
      return { queued: queued.length, skipped: parsed.media.length - fresh.length, paused };
    },
  };
}

export type Automation = ReturnType<typeof createAutomation>;
