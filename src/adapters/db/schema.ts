import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';

/**
 * One schema for PGlite and PostgreSQL. Invariants live here as constraints
 * (balance >= 0, one ledger row per (shop, reason, reference), one webhook per
 * id, one image per provider task) so that no race in application code can
 * break them.
 */

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().defaultNow();

export const shops = pgTable('shops', {
  domain: text('domain').primaryKey(),
  /** AES-256-GCM ciphertexts (see lib/token-cipher.ts); never plain text. */
  accessTokenEnc: text('access_token_enc'),
  accessTokenExpiresAt: timestamp('access_token_expires_at', { withTimezone: true }),
  refreshTokenEnc: text('refresh_token_enc'),
  refreshTokenExpiresAt: timestamp('refresh_token_expires_at', { withTimezone: true }),
  scopes: text('scopes'),
  plan: text('plan').notNull().default('free'),
  installedAt: timestamp('installed_at', { withTimezone: true }),
  uninstalledAt: timestamp('uninstalled_at', { withTimezone: true }),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const shopCredits = pgTable(
  'shop_credits',
  {
    shop: text('shop')
      .primaryKey()
      .references(() => shops.domain, { onDelete: 'cascade' }),
    balance: integer('balance').notNull().default(0),
    updatedAt: updatedAt(),
  },
  (t) => [check('shop_credits_balance_non_negative', sql`${t.balance} >= 0`)],
);

export const creditTransactions = pgTable(
  'credit_transactions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    shop: text('shop')
      .notNull()
      .references(() => shops.domain, { onDelete: 'cascade' }),
    delta: integer('delta').notNull(),
    /** grant | purchase | debit | refund | adjustment */
    reason: text('reason').notNull(),
    reference: text('reference').notNull(),
    balanceAfter: integer('balance_after').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    unique('credit_transactions_shop_reason_reference').on(t.shop, t.reason, t.reference),
    index('credit_transactions_shop_created').on(t.shop, t.createdAt.desc(), t.id.desc()),
    check('credit_transactions_delta_non_zero', sql`${t.delta} <> 0`),
    check('credit_transactions_balance_after_non_negative', sql`${t.balanceAfter} >= 0`),
  ],
);

export const PENDING_STATUSES = ['pending', 'credited', 'declined', 'expired'] as const;

export const creditPending = pgTable(
  'credit_pending',
  {
    /** Our unguessable id: it is what the confirm URL carries. */
    id: uuid('id').primaryKey().defaultRandom(),
    shop: text('shop')
      .notNull()
      .references(() => shops.domain, { onDelete: 'cascade' }),
    planId: text('plan_id').notNull(),
    credits: integer('credits').notNull(),
    price: numeric('price', { precision: 12, scale: 2 }).notNull(),
    currency: text('currency').notNull(),
    sandbox: boolean('sandbox').notNull(),
    /** Shopify's gid://shopify/AppPurchaseOneTime/..., null for sandbox purchases. */
    purchaseGid: text('purchase_gid').unique('credit_pending_purchase_gid'),
    status: text('status', { enum: PENDING_STATUSES }).notNull().default('pending'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('credit_pending_status', sql`${t.status} in ('pending', 'credited', 'declined', 'expired')`),
    check('credit_pending_credits_positive', sql`${t.credits} > 0`),
    index('credit_pending_status_created').on(t.status, t.createdAt),
  ],
);

export const IMAGE_STATUSES = ['pending', 'queued', 'processing', 'processed', 'failed'] as const;
export const OPERATIONS = ['remove-bg', 'upscale', 'downscale'] as const;

export const images = pgTable(
  'images',
  {
    id: uuid('id').primaryKey(),
    shop: text('shop')
      .notNull()
      .references(() => shops.domain, { onDelete: 'cascade' }),
    operation: text('operation', { enum: OPERATIONS }).notNull(),
    status: text('status', { enum: IMAGE_STATUSES }).notNull().default('pending'),
    filename: text('filename').notNull(),
    originalPath: text('original_path').notNull(),
    processedPath: text('processed_path'),
    providerTaskId: text('provider_task_id').unique('images_provider_task_id'),
    /**
     * Set just before a provider submit goes out, cleared when it surely created nothing. Set with no
     * task id on a later run: a worker died mid-submit, the outcome is unknown, so the image fails
     * (refunded) rather than being submitted (and paid for) twice.
     */
    providerSubmitStartedAt: timestamp('provider_submit_started_at', { withTimezone: true }),
    attempts: integer('attempts').notNull().default(0),
    errorMessage: text('error_message'),
    /** Finishing options (modules/images/finishing.ts), resolved at acceptance; null: none (a plain result). */
    options: jsonb('options'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    check('images_status', sql`${t.status} in ('pending', 'queued', 'processing', 'processed', 'failed')`),
    check('images_operation', sql`${t.operation} in ('remove-bg', 'upscale', 'downscale')`),
    index('images_shop_created').on(t.shop, t.createdAt.desc(), t.id.desc()),
    index('images_shop_status').on(t.shop, t.status),
    index('images_status_updated').on(t.status, t.updatedAt),
  ],
);

export const settings = pgTable('settings', {
  shop: text('shop')
    .primaryKey()
    .references(() => shops.domain, { onDelete: 'cascade' }),
  backgroundRemoval: boolean('background_removal').notNull(),
  optimizeImages: boolean('optimize_images').notNull(),
  avatarPath: text('avatar_path'),
  /** The shop's default finishing options (partial; unset fields take the built-in defaults). */
  finishing: jsonb('finishing'),
  /** Automation of new product media (modules/catalogue/automation.ts), with its pause reason. */
  autoProcess: jsonb('auto_process'),
  updatedAt: updatedAt(),
});

export const webhookEvents = pgTable(
  'webhook_events',
  {
    webhookId: text('webhook_id').primaryKey(),
    shop: text('shop').notNull(),
    topic: text('topic').notNull(),
    /** X-Shopify-Event-Id: one event delivered to several subscriptions, or retried, is processed once. */
    eventId: text('event_id').unique('webhook_events_event_id'),
    triggeredAt: timestamp('triggered_at', { withTimezone: true }),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('webhook_events_shop_topic_triggered').on(t.shop, t.topic, t.triggeredAt)],
);

export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    shop: text('shop')
      .notNull()
      .references(() => shops.domain, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    /** The first answer, replayed for the same key within 24 h. */
    statusCode: integer('status_code').notNull(),
    response: jsonb('response').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ name: 'idempotency_keys_pk', columns: [t.shop, t.key] }), index('idempotency_keys_created').on(t.createdAt)],
);

export const JOB_STATUSES = ['queued', 'active', 'completed', 'failed'] as const;

/**
 * Job records. The embedded queue runs from this table (so a restart resumes
 * work); with BullMQ it is the durable record the sweeper re-enqueues from.
 */
export const jobs = pgTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    payload: jsonb('payload').notNull(),
    status: text('status', { enum: JOB_STATUSES }).notNull().default('queued'),
    attempts: integer('attempts').notNull().default(0),
    runAt: timestamp('run_at', { withTimezone: true }).notNull().defaultNow(),
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
    lastError: text('last_error'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('jobs_status', sql`${t.status} in ('queued', 'active', 'completed', 'failed')`),
    index('jobs_status_run_at').on(t.status, t.runAt),
  ],
);

export const APPLY_MODES = ['replace', 'add', 'none'] as const;
export const BATCH_STATUSES = ['running', 'paused', 'cancelled', 'done'] as const;

/**
 * A run over the catalogue (docs/catalogue.md): walks it page by page from
 * `cursor`; `walk_done` once the last page was enqueued.
 */
export const catalogueBatches = pgTable(
  'catalogue_batches',
  {
    id: uuid('id').primaryKey(),
    shop: text('shop')
      .notNull()
      .references(() => shops.domain, { onDelete: 'cascade' }),
    status: text('status', { enum: BATCH_STATUSES }).notNull().default('running'),
    scope: jsonb('scope').notNull(),
    operation: text('operation', { enum: OPERATIONS }).notNull(),
    options: jsonb('options'),
    apply: text('apply', { enum: APPLY_MODES }).notNull(),
    /** The catalogue page cursor the next page job starts from (null: the first page). */
    cursor: text('cursor'),
    /** Pages walked so far: the page job id is (batch, page), so a page is walked once. */
    pages: integer('pages').notNull().default(0),
    walkDone: boolean('walk_done').notNull().default(false),
    stopReason: text('stop_reason'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('catalogue_batches_status', sql`${t.status} in ('running', 'paused', 'cancelled', 'done')`),
    index('catalogue_batches_shop_created').on(t.shop, t.createdAt.desc(), t.id.desc()),
  ],
);

/**
 * One run of the pipeline on one product media: the image (the pipeline's
 * row), where its result went and when it was restored. A media's history is
 * its runs; its state is its newest run's (modules/catalogue/state.ts).
 */
export const mediaRuns = pgTable(
  'media_runs',
  {
    imageId: uuid('image_id')
      .primaryKey()
      .references(() => images.id, { onDelete: 'cascade' }),
    shop: text('shop')
      .notNull()
      .references(() => shops.domain, { onDelete: 'cascade' }),
    mediaId: text('media_id').notNull(),
    productId: text('product_id').notNull(),
    /** What to do with the result once processed. */
    apply: text('apply', { enum: APPLY_MODES }).notNull(),
    batchId: uuid('batch_id').references(() => catalogueBatches.id, { onDelete: 'set null' }),
    /** Set for runs started by the products/* webhooks (automation). */
    auto: boolean('auto').notNull().default(false),
    /** The media's alt text when the run started: kept on the result and on a restore. */
    alt: text('alt'),
    /** How the result was applied (`replace` or `add`) and the media that holds it. */
    appliedMode: text('applied_mode'),
    resultMediaId: text('result_media_id'),
    appliedAt: timestamp('applied_at', { withTimezone: true }),
    restoredAt: timestamp('restored_at', { withTimezone: true }),
    /** Why the result could not be applied (the result stays for review). */
    applyError: text('apply_error'),
    /** The kept original was removed (retention or shop/redact): no restore any more. */
    originalRemovedAt: timestamp('original_removed_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [
    // A batch takes each media once, however often a page is walked again.
    unique('media_runs_batch_media').on(t.batchId, t.mediaId),
    index('media_runs_shop_media_created').on(t.shop, t.mediaId, t.createdAt.desc()),
    index('media_runs_result_media').on(t.shop, t.resultMediaId),
    index('media_runs_batch').on(t.batchId),
    index('media_runs_applied').on(t.appliedAt),
  ],
);

/** Media ids the automation has seen (products/* webhooks): each new media processed once. */
export const autoSeenMedia = pgTable(
  'auto_seen_media',
  {
    shop: text('shop')
      .notNull()
      .references(() => shops.domain, { onDelete: 'cascade' }),
    mediaId: text('media_id').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ name: 'auto_seen_media_pk', columns: [t.shop, t.mediaId] }), index('auto_seen_media_shop_created').on(t.shop, t.createdAt)],
);

/** The demo catalogue of local mode (adapters/catalogue/local.ts): stands in for a store's products. */
export const demoProducts = pgTable(
  'demo_products',
  {
    id: text('id').primaryKey(),
    shop: text('shop')
      .notNull()
      .references(() => shops.domain, { onDelete: 'cascade' }),
    title: text('title').notNull(),
    status: text('status').notNull().default('ACTIVE'),
    collectionId: text('collection_id'),
    createdAt: createdAt(),
  },
  (t) => [index('demo_products_shop_id').on(t.shop, t.id)],
);

export const demoMedia = pgTable(
  'demo_media',
  {
    id: text('id').primaryKey(),
    shop: text('shop')
      .notNull()
      .references(() => shops.domain, { onDelete: 'cascade' }),
    productId: text('product_id')
      .notNull()
      .references(() => demoProducts.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    alt: text('alt'),
    storageKey: text('storage_key').notNull(),
    contentType: text('content_type').notNull(),
    width: integer('width'),
    height: integer('height'),
    createdAt: createdAt(),
  },
  (t) => [index('demo_media_product_position').on(t.productId, t.position)],
);

/**
 * Which product a store media belongs to (Shopify's MediaImage has no product
 * field): recorded by the Shopify catalogue adapter when it lists products.
 */
export const catalogueMediaIndex = pgTable(
  'catalogue_media_index',
  {
    shop: text('shop')
      .notNull()
      .references(() => shops.domain, { onDelete: 'cascade' }),
    mediaId: text('media_id').notNull(),
    productId: text('product_id').notNull(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ name: 'catalogue_media_index_pk', columns: [t.shop, t.mediaId] })],
);
