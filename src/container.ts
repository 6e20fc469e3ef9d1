import { createHmac } from 'node:crypto';
import type { FastifyServerOptions } from 'fastify';
import { Redis } from 'ioredis';
import type { Config } from './config/load.js';
import { type Database, type Db, openDatabase } from './adapters/db/client.js';
import { createMetrics, type Metrics } from './adapters/metrics/metrics.js';
import {
  type AdminGraphqlClient,
  createAdminGraphqlClient,
  createShopGraphql,
  registerWebhooks,
  type ShopGraphql,
} from './adapters/shopify/admin-graphql.js';
import { exchangeSessionToken, refreshAccessToken, type ShopifyAppConfig } from './adapters/shopify/oauth.js';
import { verifySessionToken } from './adapters/shopify/session-token.js';
import { createLocalStorage } from './adapters/storage/local.js';
import type { Storage } from './adapters/storage/storage.js';
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
  storage: Storage;
  auth: Authenticator;
  /** Shopify services; null in local mode (no Shopify credentials). */
  shopify: ShopifyServices | null;
  /**
   * app_purchases_one_time/update webhook, after HMAC and dedupe: credits an
   * ACTIVE purchase (plugged in by the billing module; absent means ignored).
   */
  onPurchaseUpdate?: (shop: string, payload: unknown) => Promise<void>;
  checks: { db: () => Promise<void>; queue: () => Promise<void>; storage: () => Promise<void> };
  refreshGauges?: () => Promise<void>;
  /** Overrides the app's logger (tests pass `false`). */
  loggerOptions?: FastifyServerOptions['logger'];
  close(): Promise<void>;
}

export interface ShopifyServices {
  app: ShopifyAppConfig;
  tokens: TokenStore;
  lifecycle: ShopLifecycle;
  /** Raw Admin GraphQL client (explicit token). */
  adminGraphql: AdminGraphqlClient;
  /** Admin GraphQL with the shop's stored token, refreshed when needed. */
  graphql: ShopGraphql;
  /** Where non-fatal Shopify problems go (a failed webhook registration); the HTTP app plugs its logger. */
  setWarningHandler(handler: (message: string, err: unknown) => void): void;
}

export interface ContainerOptions {
  loggerOptions?: FastifyServerOptions['logger'];
  /** Runs migrations after opening the database (default true). */
  migrate?: boolean;
}

/** A key for one purpose, derived from the JWT secret so operators manage one secret. */
export function deriveKey(secret: string, purpose: string): string {
  return createHmac('sha256', secret).update(purpose).digest('base64url');
}

export async function createContainer(config: Config, options: ContainerOptions = {}): Promise<Container> {
  const database = await openDatabase(config.database);
  const closers: Array<() => Promise<unknown>> = [() => database.close()];
  try {
    if (options.migrate !== false) await database.migrate();

    const storage = createStorage(config);
    const redis = config.redisUrl
      ? new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
      : null;
    if (redis) {
      redis.on('error', () => {}); // reported by /ready; ioredis reconnects by itself
      await redis.connect().catch(() => {});
      closers.unshift(() => redis.quit().catch(() => redis.disconnect()));
    }

    const shopify = config.shopify.mode === 'shopify' ? createShopify(config, database.db, storage) : null;
    const auth = createAuthenticator({
      db: database.db,
      jwtSecret: config.jwtSecret,
      ...(shopify
        ? {
            verifySessionToken: (token: string) => verifySessionToken(token, shopify.app),
            installWithSessionToken: (shop: string, token: string) => shopify.lifecycle.installWithSessionToken(shop, token),
            hasAccessToken: (shop: string) => shopify.tokens.hasAccessToken(database.db, shop),
          }
        : {}),
    });

    return {
      config,
      database,
      db: database.db,
      metrics: createMetrics(),
      storage,
      auth,
      shopify,
      checks: {
        db: () => database.ping(),
        // The embedded queue lives in the database; BullMQ lives in Redis.
        queue: redis ? async () => void (await redis.ping()) : () => database.ping(),
        storage: () => storage.check(),
      },
      ...(options.loggerOptions !== undefined ? { loggerOptions: options.loggerOptions } : {}),
      async close() {
        for (const close of closers) await close();
      },
    };
  } catch (err) {
    for (const close of closers) await close().catch(() => {});
    throw err;
  }
}

function createShopify(config: Config, db: Db, storage: Storage): ShopifyServices {
  const app: ShopifyAppConfig = {
    apiKey: config.shopify.apiKey,
    apiSecret: config.shopify.apiSecret,
    scopes: config.shopify.scopes,
    adminUrlTemplate: config.shopify.adminUrlTemplate,
  };
  const adminGraphql = createAdminGraphqlClient({
    adminUrlTemplate: config.shopify.adminUrlTemplate,
    apiVersion: config.shopify.apiVersion,
  });
  const tokens = createTokenStore({
    db,
    cipher: createTokenCipher(config.tokenEncryptionKey),
    refresh: (shop, refreshToken) => refreshAccessToken(app, shop, refreshToken),
  });
  let warn: (message: string, err: unknown) => void = () => {};
  const lifecycle = createShopLifecycle({
    db,
    tokens,
    onWarning: (message, err) => warn(message, err),
    freeCredits: config.credits.freeCredits,
    exchangeSessionToken: (shop, sessionToken) => exchangeSessionToken(app, shop, sessionToken),
    registerWebhooks: (shop, accessToken) => registerWebhooks(adminGraphql, shop, accessToken, config.http.backendUrl),
    storage,
  });
  return {
    app,
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
      });
    default:
      // The S3 and Supabase adapters come with the image pipeline (issue 5).
      throw new Error(`storage ${config.storage.kind} is not available in this build`);
  }
}
