import { createHmac } from 'node:crypto';
import type { FastifyServerOptions } from 'fastify';
import { Redis } from 'ioredis';
import { type Config, ConfigError } from './config/load.js';
import { type Database, type Db, openDatabase } from './adapters/db/client.js';
import { createMemoryImageEvents, createRedisImageEvents, type ImageEvents } from './adapters/events/image-events.js';
import { createImageInspector } from './adapters/images/inspect.js';
import { optimizePng } from './adapters/images/optimize.js';
import { createErrorReporter, type ErrorReporter } from './adapters/metrics/error-reporting.js';
import { createMetrics, type Metrics } from './adapters/metrics/metrics.js';
import { createProcessor } from './adapters/processor/create.js';
import type { Processor } from './adapters/processor/processor.js';
import { createBullQueue } from './adapters/queue/bullmq.js';
import { createEmbeddedQueue } from './adapters/queue/embedded.js';
import { checkHandlers, type JobHandler, type JobQueue } from './adapters/queue/queue.js';
import { createFallbackLimiter } from './adapters/ratelimit/fallback.js';
import type { RateLimiter } from './adapters/ratelimit/limiter.js';
import { createMemoryLimiter } from './adapters/ratelimit/memory.js';
import { createRedisLimiter } from './adapters/ratelimit/redis.js';
import { createLocalStorage } from './adapters/storage/local.js';
import { createS3Storage } from './adapters/storage/s3.js';
import { createSupabaseStorage } from './adapters/storage/supabase.js';
import type { Storage } from './adapters/storage/storage.js';
import { JOB_TYPES, PROCESS_IMAGE } from './jobs/catalogue.js';
import { createProcessImageHandler } from './jobs/process-image.js';
import { findStuckImages } from './modules/images/images.js';
import { createUploads, type Uploads } from './modules/images/upload.js';
import { createPurchases, type Purchases } from './modules/ledger/purchases.js';
import {
  type AdminGraphqlClient,
  createAdminGraphqlClient,
  createShopGraphql,
  type ShopGraphql,
} from './adapters/shopify/admin-graphql.js';
import { createShopifyAuth, type ShopifyAuth } from './adapters/shopify/auth.js';
import { createShopifyBilling } from './adapters/shopify/billing.js';
import { DomainError, InvalidInputError } from './lib/errors.js';
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
  rateLimiter: RateLimiter;
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
  const database = await openDatabase(config.database);
  // Closed in this order; Sentry last, so errors of the shutdown itself are still sent.
  const closers: Array<() => Promise<unknown>> = [() => database.close(), () => errorReporting.close()];
  try {
    if (options.migrate !== false) await database.migrate();
    const db = database.db;
    const metrics = createMetrics();
    const storage = createStorage(config);

    if (storage.close) closers.unshift(() => storage.close!());
    const redis = config.redisUrl
      ? new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
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
      ? createBullQueue({
          redisUrl: config.redisUrl,
          prefix: config.queuePrefix,
          concurrency: config.workerConcurrency,
          lockMs: config.queueLockMs,
          shutdownGraceMs: config.workerShutdownGraceMs,
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

    const shopify = config.shopify.mode === 'shopify' ? createShopify(config, database.db, storage) : null;
    const auth = createAuthenticator({
      db,
      jwtSecret: config.jwtSecret,
      jwtPreviousSecrets: config.jwtPreviousSecrets,
      ...(shopify
        ? {
            verifySessionToken: (token: string) => shopify.auth.verifySessionToken(token),
            installWithSessionToken: (shop: string, token: string) => shopify.lifecycle.installWithSessionToken(shop, token),
            hasAccessToken: (shop: string) => shopify.tokens.hasAccessToken(database.db, shop),
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
      ...(shopify ? { billing: createShopifyBilling(shopify.graphql) } : {}),
    });

    const uploads = createUploads({
      db,
      storage,
      inspect: createImageInspector(config.maxInputPixels),
      enqueue: (imageId) => queue.enqueue(PROCESS_IMAGE, imageId, { imageId }),
      onAccepted: () => metrics.credits.inc({ reason: 'debit' }),
    });

    const timers: NodeJS.Timeout[] = [];
    async function runMaintenance() {
      // Images left `queued` (an enqueue lost after commit) or `processing` well past the
      // provider deadline (a lost worker) are enqueued again; the handler resumes or fails them.
      const stuck = await findStuckImages(db, STUCK_QUEUED_S, config.providerTimeoutMs / 1000 + STUCK_PROCESSING_GRACE_S);
      for (const image of stuck) await queue.enqueue(PROCESS_IMAGE, image.id, { imageId: image.id });
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
      rateLimiter,
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
        const handlers = {
          [PROCESS_IMAGE]: createProcessImageHandler({
            db,
            storage,
            processor,
            events,
            timeoutMs: config.providerTimeoutMs,
            optimize: optimizePng,
            onOutcome: (outcome, operation) => {
              metrics.jobs.inc({ type: `${PROCESS_IMAGE}:${operation}`, outcome });
              if (outcome === 'failed') metrics.credits.inc({ reason: 'refund' });
            },
          }),
        };
        checkHandlers(JOB_TYPES, handlers);
        await queue.start(countedWhileRunning(handlers, metrics));
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
  const redis = new Redis(config.redisUrl, {
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

function createShopify(config: Config, db: Db, storage: Storage): ShopifyServices {
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

function createStorage(config: Config): Storage {
  switch (config.storage.kind) {
    case 'local':
      return createLocalStorage({
        root: config.storage.root,
        publicBaseUrl: config.http.backendUrl,
        signingSecret: deriveKey(config.jwtSecret, 'files'),
        previousSigningSecrets: config.jwtPreviousSecrets.map((secret) => deriveKey(secret, 'files')),
      });
    case 's3':
      return createS3Storage(config.storage);
    case 'supabase':
      return createSupabaseStorage(config.storage);
  }
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim();
