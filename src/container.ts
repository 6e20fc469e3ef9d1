import { createHmac } from 'node:crypto';
import type { FastifyServerOptions } from 'fastify';
import { Redis } from 'ioredis';
import type { Config } from './config/load.js';
import { type Database, type Db, openDatabase } from './adapters/db/client.js';
import { createMetrics, type Metrics } from './adapters/metrics/metrics.js';
import { verifySessionToken } from './adapters/shopify/session-token.js';
import { createLocalStorage } from './adapters/storage/local.js';
import { createS3Storage } from './adapters/storage/s3.js';
import { createSupabaseStorage } from './adapters/storage/supabase.js';
import type { Storage } from './adapters/storage/storage.js';
import { type Authenticator, createAuthenticator } from './modules/shops/authenticate.js';

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
  checks: { db: () => Promise<void>; queue: () => Promise<void>; storage: () => Promise<void> };
  refreshGauges?: () => Promise<void>;
  /** Overrides the app's logger (tests pass `false`). */
  loggerOptions?: FastifyServerOptions['logger'];
  close(): Promise<void>;
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
    if (storage.close) closers.unshift(() => storage.close!());
    const redis = config.redisUrl
      ? new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
      : null;
    if (redis) {
      redis.on('error', () => {}); // reported by /ready; ioredis reconnects by itself
      await redis.connect().catch(() => {});
      closers.unshift(() => redis.quit().catch(() => redis.disconnect()));
    }

    const shopify = config.shopify.mode === 'shopify' ? config.shopify : null;
    const auth = createAuthenticator({
      db: database.db,
      jwtSecret: config.jwtSecret,
      ...(shopify ? { verifySessionToken: (token: string) => verifySessionToken(token, shopify) } : {}),
    });

    return {
      config,
      database,
      db: database.db,
      metrics: createMetrics(),
      storage,
      auth,
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

function createStorage(config: Config): Storage {
  switch (config.storage.kind) {
    case 'local':
      return createLocalStorage({
        root: config.storage.root,
        publicBaseUrl: config.http.backendUrl,
        signingSecret: deriveKey(config.jwtSecret, 'files'),
      });
    case 's3':
      return createS3Storage(config.storage);
    case 'supabase':
      return createSupabaseStorage(config.storage);
  }
}
