import { createHmac } from 'node:crypto';
import type { FastifyServerOptions } from 'fastify';
import type { Redis, RedisOptions } from 'ioredis';
import { type Config, ConfigError } from './config/load.js';
import { type Database, type Db, openDatabase } from './adapters/db/client.js';
import { createMemoryImageEvents, createRedisImageEvents, type ImageEvents } from './adapters/events/image-events.js';
import { createImageInspector, imageDimensions } from './adapters/images/inspect.js';
import { optimizePng } from './adapters/images/optimize.js';
import { createErrorReporter, type ErrorReporter } from './adapters/metrics/error-reporting.js';
import { createMetrics, type Metrics } from './adapters/metrics/metrics.js';
import { createProcessor } from './adapters/processor/create.js';
import type { Processor } from './adapters/processor/processor.js';
import { createEmbeddedQueue } from './adapters/queue/embedded.js';
import { checkHandlers, type JobHandler, type JobQueue } from './adapters/queue/queue.js';
import { createFallbackLimiter } from './adapters/ratelimit/fallback.js';
import type { RateLimiter } from './adapters/ratelimit/limiter.js';
import { createMemoryLimiter } from './adapters/ratelimit/memory.js';
import { createRedisLimiter } from './adapters/ratelimit/redis.js';
import { createLocalStorage } from './adapters/storage/local.js';
import type { Storage } from './adapters/storage/storage.js';
import { APPLY_MEDIA, applyJobId, BATCH_PAGE, JOB_TYPES, PROCESS_IMAGE } from './jobs/catalogue.js';
import { createApplyMediaHandler } from './jobs/apply-media.js';
import { createBatchPageHandler } from './jobs/batch-page.js';
import { createLocalCatalogue } from './adapters/catalogue/local.js';
import { createShopifyCatalogue } from './adapters/catalogue/shopify.js';
import { OutboundRefusedError } from './adapters/outbound/fetch.js';
import { PermanentProcessingError } from './adapters/processor/processor.js';
import { type Catalogue, createCatalogue } from './modules/catalogue/catalogue.js';
import { type Batches, createBatches } from './modules/catalogue/batches.js';
import { type Automation, createAutomation } from './modules/catalogue/automation.js';
import { findExpiredOriginals, findUnappliedRuns, markOriginalRemoved } from './modules/catalogue/runs.js';
import { grantedScopes } from './modules/shops/shops.js';
import { createImageGaveUpHandler, createProcessImageHandler } from './jobs/process-image.js';
import { findStuckImages } from './modules/images/images.js';
import { createUploads, type Uploads } from './modules/images/upload.js';
import { createPurchases, type Purchases } from './modules/ledger/purchases.js';
import type { AdminGraphqlClient, ShopGraphql } from './adapters/shopify/admin-graphql.js';
import type { ShopifyAuth } from './adapters/shopify/auth.js';
import { DomainError, InvalidInputError } from './lib/errors.js';
import { createSemaphore, type Semaphore } from './lib/semaphore.js';
import { withTimeout } from './lib/timeout.js';
import { createTokenCipher } from './lib/token-cipher.js';
import { type Authenticator, createAuthenticator } from './modules/shops/authenticate.js';
import { createShopLifecycle, type ShopLifecycle } from './modules/shops/lifecycle.js';
import { createTokenStore, type TokenStore } from './modules/shops/tokens.js';

/**
 * The one composition root: picks an adapter for each port from the config.
 * Everything else receives what it needs from here.
 */
export interface Container {
  config: Config;
  database: Database;
  db: Db;
  metrics: Metrics;
  /** Sends an unexpected error to Sentry (when configured). */
  reportError: ErrorReporter;
  storage: Storage;
  queue: JobQueue;
  processor: Processor;
  events: ImageEvents;
  auth: Authenticator;
  purchases: Purchases;
  uploads: Uploads;
  /** The merchant's products and media (docs/catalogue.md). */
  catalogue: Catalogue;
  batches: Batches;
  /** products/* webhooks: new media processed once (settings `auto_process`). */
  automation: Automation;
  rateLimiter: RateLimiter;
  /**
   * The line in front of the API's own sharp work (upload headers, avatars):
   * sharp runs on libuv's thread pool, which file and DNS I/O share.
   */
  imageWork: Semaphore;
  /** Shopify services; null in local mode (no Shopify credentials). */
  shopify: ShopifyServices | null;
  /**
   * app_purchases_one_time/update webhook, after HMAC and dedupe: credits an
   * ACTIVE purchase (plugged in by the billing module; absent means ignored).
   */
  /** The app_purchases_one_time/update webhook: the same idempotent credit path as /credits/confirm. */
  onPurchaseUpdate(shop: string, payload: unknown): Promise<void>;
  checks: { db: () => Promise<void>; queue: () => Promise<void>; storage: () => Promise<void> };
  refreshGauges(): Promise<void>;
  /**
   * Runs the jobs in this process (embedded mode's API, or `npm run worker`),
   * with the periodic sweeper of stuck images and the purchase reconciliation.
   */
  startBackgroundWork(): Promise<void>;
  /** One pass of the sweeper and the purchase reconciliation (run every minute by startBackgroundWork). */
  runMaintenance(): Promise<{ requeued: number; reconciled: number }>;
  /** Overrides the app's logger (tests pass `false`). */
  loggerOptions?: FastifyServerOptions['logger'];
  close(): Promise<void>;
}

export interface ShopifyServices {
  /** The official library: session tokens, token grants, HMAC and webhook validation. */
  auth: ShopifyAuth;
  tokens: TokenStore;
  lifecycle: ShopLifecycle;
  /** Raw Admin GraphQL client (explicit token). */
  adminGraphql: AdminGraphqlClient;
  /** Admin GraphQL with the shop's stored token, refreshed when needed. */
  graphql: ShopGraphql;
  /** Where non-fatal Shopify problems go (the library's warnings, a file left behind); the HTTP app plugs its logger. */
  setWarningHandler(handler: (message: string, err: unknown) => void): void;
}

export interface ContainerOptions {
  loggerOptions?: FastifyServerOptions['logger'];
  /** Runs migrations after opening the database (default true). */
  migrate?: boolean;
  /** Where background errors go (the app's logger in the entry points). */
  logError?: (err: unknown, context: Record<string, unknown>) => void;
  /** Sweeper and reconciliation period (tests shorten it). */
  maintenanceIntervalMs?: number;
}

/** libuv's pool has 4 threads by default (UV_THREADPOOL_SIZE): image work takes at most 2, file and DNS I/O keep the rest. */
const IMAGE_WORK_SLOTS = 2;
/**
 * Beyond this many waiting, image work is a 503 with Retry-After. A waiting upload's bytes are already in
 * memory (bounded by HTTP_MAX_CONNECTIONS), so the line is long: a burst of uploads waits rather than fails.
 */
const IMAGE_WORK_WAITING = 1000;

/** An image `queued` this long without progress lost its enqueue. */
const STUCK_QUEUED_S = 120;
/** Past the provider deadline plus this, a `processing` image lost its worker. */
const STUCK_PROCESSING_GRACE_S = 300;

/** A key for one purpose, derived from the JWT secret so operators manage one secret. */
export function deriveKey(secret: string, purpose: string): string {
  return createHmac('sha256', secret).update(purpose).digest('base64url');
}

export async function createContainer(config: Config, options: ContainerOptions = {}): Promise<Container> {
  const errorReporting = await createErrorReporter(config.sentryDsn, config.nodeEnv);
  const reportError = errorReporting.report;
  const logError = (err: unknown, context: Record<string, unknown>) => {
    options.logError?.(err, context);
    reportError(err, context);
  };
  const metrics = createMetrics();
  const database = await openDatabase(config.database, { onQuery: () => metrics.dbQueries.inc() });
  // Closed in this order; Sentry last, so errors of the shutdown itself are still sent.
  const closers: Array<() => Promise<unknown>> = [() => database.close(), () => errorReporting.close()];
  try {
    if (options.migrate !== false) await database.migrate();
    const db = database.db;
    const storage = await createStorage(config);

    if (storage.close) closers.unshift(() => storage.close!());
    const redis = config.redisUrl
      ? await connectRedis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
      : null;
    if (redis) {
      redis.on('error', () => {}); // reported by /ready; ioredis reconnects by itself
      await redis.connect().catch(() => {});
      closers.unshift(() => closeRedis(redis));
    }

    const events = redis ? createRedisImageEvents(redis) : createMemoryImageEvents();
    closers.unshift(() => events.close());

    const onJobError = (err: unknown, job: { id: string; type: string }) => logError(err, { job: job.id, type: job.type });
    const queue: JobQueue = config.redisUrl
      ? (await import('./adapters/queue/bullmq.js')).createBullQueue({
          redisUrl: config.redisUrl,
          prefix: config.queuePrefix,
          concurrency: config.workerConcurrency,
          lockMs: config.queueLockMs,
          shutdownGraceMs: config.workerShutdownGraceMs,
          maxStalledCount: config.queueMaxStalled,
          onError: onJobError,
        })
      : createEmbeddedQueue({
          db,
          concurrency: config.workerConcurrency,
          leaseMs: config.queueLockMs,
          shutdownGraceMs: config.workerShutdownGraceMs,
          onError: onJobError,
        });
    let queueClosed: Promise<void> | undefined;
    const closeQueue = () => (queueClosed ??= queue.close());
    closers.unshift(closeQueue);

    const processor = createProcessor(config, {
      onProviderCall: (operation, call, seconds) => metrics.providerLatency.observe({ operation, call }, seconds),
    });
    if (processor.close) closers.unshift(() => processor.close!());
    const rateLimiter = await createRateLimiter(config, closers);

    const shopify = config.shopify.mode === 'shopify' ? await createShopify(config, database.db, storage) : null;
    const auth = createAuthenticator({
      db,
      jwtSecret: config.jwtSecret,
      jwtPreviousSecrets: config.jwtPreviousSecrets,
      onVerify: () => metrics.credentialVerifications.inc(),
      ...(shopify
        ? {
            verifySessionToken: (token: string) => shopify.auth.verifySessionToken(token),
            installWithSessionToken: (shop: string, token: string) => shopify.lifecycle.installWithSessionToken(shop, token),
          }
        : {}),
    });

    const purchases = createPurchases({
      db,
      plans: config.credits.plans,
      sandbox: config.credits.sandbox,
      billingTest: config.shopify.billingTest,
      confirmUrl: (planId, pendingId) =>
        `${config.http.backendUrl}/credits/confirm?planId=${encodeURIComponent(planId)}&purchaseId=${pendingId}`,
      onReconcileError: (pendingId, err) => logError(err, { reconcile: pendingId }),
      onCredited: (credits) => metrics.credits.inc({ reason: 'purchase' }, credits),
      ...(shopify ? { billing: (await import('./adapters/shopify/billing.js')).createShopifyBilling(shopify.graphql) } : {}),
    });

    const imageWork = createSemaphore(IMAGE_WORK_SLOTS, IMAGE_WORK_WAITING);
    const inspect = createImageInspector(config.maxInputPixels);
    const uploads = createUploads({
      db,
      storage,
      inspect: (data) => imageWork.run(() => inspect(data)),
      // The upload's transaction wrote the job row (the outbox): the queue only has to pick it up.
      enqueue: (imageId) => queue.enqueue(PROCESS_IMAGE, imageId, { imageId }, { recorded: true }),
      onAccepted: () => metrics.credits.inc({ reason: 'debit' }),
    });

    const cataloguePort = shopify
      ? createShopifyCatalogue({
          db,
          graphql: shopify.graphql,
          scopesOf: (shop) => grantedScopes(db, shop),
          cdnOrigin: config.shopify.cdnOrigin,
          maxBytes: config.maxUploadBytes,
          timeoutMs: config.providerTimeoutMs,
          pollMs: config.catalogue.mediaPollMs,
        })
      : createLocalCatalogue({ db, storage });
    const automation = createAutomation({
      db,
      port: cataloguePort,
      enqueue: (type, id, payload) => queue.enqueue(type, id, payload),
      publish: (shop, imageId) => events.publish(shop, imageId),
    });
    const catalogue = createCatalogue({
      db,
      port: cataloguePort,
      storage,
      enqueue: (type, id, payload) => queue.enqueue(type, id, payload),
      dimensions: imageDimensions,
      publish: (shop, imageId) => events.publish(shop, imageId),
      onAccepted: (n) => metrics.credits.inc({ reason: 'debit' }, n),
      onResultCreated: (shop, mediaId) => automation.markOurs(shop, mediaId),
    });
    const batches = createBatches({
      db,
      port: cataloguePort,
      enqueue: (type, id, payload) => queue.enqueue(type, id, payload),
      publish: (shop, id) => events.publish(shop, id),
      onAccepted: (n) => metrics.credits.inc({ reason: 'debit' }, n),
      pageSize: config.catalogue.batchPageSize,
    });

    const timers: NodeJS.Timeout[] = [];
    async function runMaintenance() {
      // Images left `queued` (an enqueue lost after commit) or `processing` well past the
      // provider deadline (a lost worker) are enqueued again; the handler resumes or fails them.
      const stuck = await findStuckImages(db, STUCK_QUEUED_S, config.providerTimeoutMs / 1000 + STUCK_PROCESSING_GRACE_S);
      // `rerun`: a job the queue ended (its failure unhandled, a lost event) must not make this a no-op.
      for (const image of stuck) await queue.enqueue(PROCESS_IMAGE, image.id, { imageId: image.id }, { rerun: true });
      // Processed catalogue results whose apply job was lost; batches whose page job was.
      for (const run of await findUnappliedRuns(db, STUCK_QUEUED_S)) {
        await queue.enqueue(APPLY_MEDIA, applyJobId(run.imageId), { imageId: run.imageId, mode: run.apply });
      }
      await batches.resumeStalled(STUCK_QUEUED_S);
      // Kept originals past their use (restored, or ORIGINALS_RETENTION_DAYS after the apply) are removed.
      for (const run of await findExpiredOriginals(db, config.originalsRetentionDays)) {
        await storage.delete(run.originalPath);
        await markOriginalRemoved(db, run.imageId);
      }
      const reconciled = await purchases.reconcile();
      return { requeued: stuck.length, reconciled: reconciled.length };
    }

    return {
      config,
      database,
      db,
      metrics,
      reportError,
      storage,
      queue,
      processor,
      events,
      auth,
      purchases,
      uploads,
      catalogue,
      batches,
      automation,
      rateLimiter,
      imageWork,
      shopify,
      async onPurchaseUpdate(shop, payload) {
        const gid = (payload as { app_purchase_one_time?: { admin_graphql_api_id?: unknown } }).app_purchase_one_time
          ?.admin_graphql_api_id;
        if (typeof gid !== 'string' || !gid.startsWith('gid://shopify/AppPurchaseOneTime/')) {
          throw new InvalidInputError('app_purchase_one_time.admin_graphql_api_id is missing', 'INVALID_PAYLOAD');
        }
        try {
          await purchases.settleByPurchaseGid(shop, gid);
        } catch (err) {
          // A purchase that is not ours or does not match its plan never will: acknowledge, and log it.
          if (err instanceof DomainError && (err.kind === 'invalid' || err.kind === 'not_found')) {
            logError(err, { purchaseWebhook: gid, shop });
            return;
          }
          throw err;
        }
      },
      checks: {
        db: () => database.ping(),
        queue: () => queue.check(),
        storage: () => storage.check(),
      },
      async refreshGauges() {
        // /metrics must answer even when Redis does not.
        const counts = await withTimeout(queue.counts(), 1000, 'queue counts').catch(() => null);
        if (counts) for (const [state, n] of Object.entries(counts)) metrics.queueDepth.set({ state }, n);
      },
      runMaintenance,
      async startBackgroundWork() {
        // Only processes that run jobs load the model: a bad REMOVE_BG_MODEL stops them here.
        await processor.start?.().catch((err: unknown) => {
          throw new ConfigError(`REMOVE_BG_MODEL: cannot load ${config.removeBg.modelPath}: ${firstLine(err)}`);
        });
        const onOutcome = (outcome: 'processed' | 'failed' | 'retry', operation: string) => {
          metrics.jobs.inc({ type: `${PROCESS_IMAGE}:${operation}`, outcome });
          if (outcome === 'failed') metrics.credits.inc({ reason: 'refund' });
        };
        const handlers = {
          [PROCESS_IMAGE]: createProcessImageHandler({
            db,
            storage,
            processor,
            events,
            timeoutMs: config.providerTimeoutMs,
            optimize: optimizePng,
            onOutcome,
            // Logged only: a failed image is an expected outcome, not an error to report.
            onFailure: (err, image) => options.logError?.(err, { image: image.id, operation: image.operation, failed: true }),
            prepare: async (image, signal) => {
              try {
                await catalogue.prepareSource(image, signal);
              } catch (err) {
                // A refused source (not the catalogue's host, a private address, a redirect there) or a media gone is final.
                if (err instanceof OutboundRefusedError || (err instanceof DomainError && err.kind === 'not_found')) {
                  throw new PermanentProcessingError(`The source image was refused: ${err.message}`);
                }
                throw err;
              }
            },
            onProcessed: async (image) => {
              await catalogue.afterProcessed(image);
              await batches.onImageChanged(image.id);
            },
            onFailed: (image) => batches.onImageChanged(image.id),
          }),
          [APPLY_MEDIA]: createApplyMediaHandler({
            db,
            catalogue,
            onDone: (imageId) => batches.onImageChanged(imageId),
          }),
          [BATCH_PAGE]: createBatchPageHandler({ batches }),
        };
        checkHandlers(JOB_TYPES, handlers);
        const imageGaveUp = createImageGaveUpHandler({ db, events, onOutcome });
        await queue.start(countedWhileRunning(handlers, metrics), async (job, reason) => {
          if (job.type !== PROCESS_IMAGE) return;
          await imageGaveUp(job, reason);
          const imageId = typeof job.payload.imageId === 'string' ? job.payload.imageId : job.id;
          await batches.onImageChanged(imageId);
        });
        const every = options.maintenanceIntervalMs ?? 60_000;
        timers.push(setInterval(() => void runMaintenance().catch((err: unknown) => logError(err, { maintenance: true })), every));
      },
      ...(options.loggerOptions !== undefined ? { loggerOptions: options.loggerOptions } : {}),
      async close() {
        for (const timer of timers) clearInterval(timer);
        // Running jobs first (they finish or are handed back within the grace period): they
        // still need the processor, storage and database that the other closers end.
        await closeQueue();
        for (const close of closers) await close();
      },
    };
  } catch (err) {
    for (const close of closers) await close().catch(() => {});
    throw err;
  }
}

/** Each handler counted in `jobs_running` while it runs. */
function countedWhileRunning(handlers: Record<string, JobHandler>, metrics: Metrics): Record<string, JobHandler> {
  const counted = (handler: JobHandler): JobHandler => async (payload, ctx) => {
    metrics.jobsRunning.inc();
    try {
      await handler(payload, ctx);
    } finally {
      metrics.jobsRunning.dec();
    }
  };
  return Object.fromEntries(Object.entries(handlers).map(([type, handler]) => [type, counted(handler)]));
}

/** QUIT when connected (bounded), else just drop the socket: a dead Redis must not hold up shutdown. */
async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    await withTimeout(client.quit(), 1000, 'redis quit').catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}

/** Redis command timeout of the limiter: past it, the in-process limiter answers. */
export const RATE_LIMIT_REDIS_TIMEOUT_MS = 150;

/** Redis (own connection: fails fast, short timeout) with the in-process limiter as fallback; in-process alone without Redis. */
async function createRateLimiter(config: Config, closers: Array<() => Promise<unknown>>): Promise<RateLimiter> {
  const memory = createMemoryLimiter();
  if (!config.redisUrl) return memory;
  const redis = await connectRedis(config.redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: RATE_LIMIT_REDIS_TIMEOUT_MS,
    connectTimeout: 2000,
  });
  redis.on('error', () => {}); // each failed check is logged and counted by the rate-limit plugin
  closers.unshift(() => closeRedis(redis));
  await redis.connect().catch(() => {});
  return createFallbackLimiter(createRedisLimiter(redis, { prefix: config.rateLimit.keyPrefix }), memory);
}

/**
 * Adapters that only some configurations use are imported when chosen: embedded mode never
 * loads the S3 SDK, BullMQ, ioredis or the Shopify library (about a second of start-up).
 */
async function connectRedis(url: string, options: RedisOptions): Promise<Redis> {
  const { Redis } = await import('ioredis');
  return new Redis(url, options);
}

async function createShopify(config: Config, db: Db, storage: Storage): Promise<ShopifyServices> {
  const [{ createShopifyAuth }, { createAdminGraphqlClient, createShopGraphql }] = await Promise.all([
    import('./adapters/shopify/auth.js'),
    import('./adapters/shopify/admin-graphql.js'),
  ]);
  let warn: (message: string, err: unknown) => void = () => {};
  const auth = createShopifyAuth(
    {
      apiKey: config.shopify.apiKey,
      apiSecret: config.shopify.apiSecret,
      scopes: config.shopify.scopes,
      apiVersion: config.shopify.apiVersion,
      appUrl: config.http.backendUrl,
      adminUrlTemplate: config.shopify.adminUrlTemplate,
    },
    { onWarning: (message) => warn('Shopify library', message) },
  );
  const adminGraphql = createAdminGraphqlClient({
    adminUrlTemplate: config.shopify.adminUrlTemplate,
    apiVersion: config.shopify.apiVersion,
  });
  const tokens = createTokenStore({
    db,
    cipher: createTokenCipher(config.tokenEncryptionKey, config.tokenEncryptionPreviousKeys),
    refresh: (shop, refreshToken) => auth.refreshAccessToken(shop, refreshToken),
  });
  const lifecycle = createShopLifecycle({
    db,
    tokens,
    onWarning: (message, err) => warn(message, err),
    freeCredits: config.credits.freeCredits,
    exchangeSessionToken: (shop, sessionToken) => auth.exchangeSessionToken(shop, sessionToken),
    storage,
  });
  return {
    auth,
    tokens,
    lifecycle,
    adminGraphql,
    graphql: createShopGraphql(adminGraphql, (shop, opts) => tokens.getAccessToken(shop, opts)),
    setWarningHandler: (handler) => {
      warn = handler;
    },
  };
}

async function createStorage(config: Config): Promise<Storage> {
  switch (config.storage.kind) {
    case 'local':
      return createLocalStorage({
        root: config.storage.root,
        publicBaseUrl: config.http.backendUrl,
        signingSecret: deriveKey(config.jwtSecret, 'files'),
        previousSigningSecrets: config.jwtPreviousSecrets.map((secret) => deriveKey(secret, 'files')),
      });
    case 's3':
      return (await import('./adapters/storage/s3.js')).createS3Storage(config.storage);
    case 'supabase':
      return (await import('./adapters/storage/supabase.js')).createSupabaseStorage(config.storage);
  }
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim();
