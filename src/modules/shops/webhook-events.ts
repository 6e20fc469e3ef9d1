import { and, eq, gt, ne } from 'drizzle-orm';
import type { DbOrTx } from '../../adapters/db/client.js';
import { webhookEvents } from '../../adapters/db/schema.js';

export interface WebhookEventHeaders {
  webhookId: string;
  shop: string;
  topic: string;
  eventId: string | null;
  triggeredAt: Date | null;
}

/** `new`: process it; `duplicate`: this event (or delivery) was seen; `stale`: a newer event of the topic is stored. */
export type WebhookReceipt = 'new' | 'duplicate' | 'stale';

/**
 * Records a webhook delivery. The event id (X-Shopify-Event-Id: the same for
 * every delivery of one event, to each subscription and on each retry) and
 * the webhook id are both unique, so a repeat is detected by the database,
 * whichever process gets it; the webhook id alone decides when Shopify sent
 * no event id. With `staleCheck`, an event triggered before the newest one
 * already stored for the same shop and topic is ignored.
 */
export async function recordWebhookEvent(
  db: DbOrTx,
  event: WebhookEventHeaders,
  opts: { staleCheck: boolean },
): Promise<WebhookReceipt> {
  const inserted = await db
    .insert(webhookEvents)
    .values(event)
    .onConflictDoNothing() // on either unique key
    .returning({ webhookId: webhookEvents.webhookId });
  if (inserted.length === 0) return 'duplicate';
  if (opts.staleCheck && event.triggeredAt) {
    const [newer] = await db
      .select({ webhookId: webhookEvents.webhookId })
      .from(webhookEvents)
      .where(
        and(
          eq(webhookEvents.shop, event.shop),
          eq(webhookEvents.topic, event.topic),
          ne(webhookEvents.webhookId, event.webhookId),
          gt(webhookEvents.triggeredAt, event.triggeredAt),
        ),
      )
      .limit(1);
    if (newer) return 'stale';
  }
  return 'new';
}

/** Forgets a delivery whose processing failed, so Shopify's retry is processed. */
export async function forgetWebhookEvent(db: DbOrTx, webhookId: string): Promise<void> {
  await db.delete(webhookEvents).where(eq(webhookEvents.webhookId, webhookId));
}

/**
 * Marks a one-time value (an OAuth state nonce) as used; false when it already
 * was. Kept in webhook_events under its own topic: the table is the app's
 * "seen once" register, unique by id across every process.
 */
export async function claimOnce(db: DbOrTx, kind: string, value: string, shop: string): Promise<boolean> {
  const inserted = await db
    .insert(webhookEvents)
    .values({ webhookId: `${kind}:${value}`, shop, topic: kind, eventId: null, triggeredAt: new Date() })
    .onConflictDoNothing({ target: webhookEvents.webhookId })
    .returning({ webhookId: webhookEvents.webhookId });
  return inserted.length === 1;
}
