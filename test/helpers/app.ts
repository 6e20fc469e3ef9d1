import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Config, loadConfig } from '../../src/config/load.js';
import { type Container, createContainer } from '../../src/container.js';
import { type App, buildApp } from '../../src/http/app.js';
import type { DatabaseOptions } from '../../src/adapters/db/client.js';
import { type DbKind, freshDatabaseOptions } from './db.js';
import { deleteRedisKeys } from './redis-keys.js';

export interface TestApp {
  app: App;
  container: Container;
  config: Config;
  close(): Promise<void>;
}

/**
 * Suites fire many requests from one address within a second: limits are
 * raised unless a test sets RL_* itself (test/e2e/ratelimit.test.ts does).
 */
export const GENEROUS_RATE_LIMITS: Record<string, string> = {
  RL_BURST_LIMIT: '100000',
  RL_SUST_LIMIT: '1000000',
  RL_UPLOAD_BURST_LIMIT: '100000',
  RL_UPLOAD_SUST_LIMIT: '1000000',
};

/**
 * The real app, on a fresh database of the given kind and a temporary
 * DATA_DIR. `env` holds environment variables as an operator would set them.
 */
export async function createTestApp(
  opts: {
    db?: DbKind;
    /** A database that outlives this app (several apps in turn on one database); close() leaves it. */
    database?: DatabaseOptions;
    env?: Record<string, string>;
    /** Runs the jobs in this process (embedded mode). */
    jobs?: boolean;
    maintenanceIntervalMs?: number;
    /** Keeps the default load shedding (off otherwise: see below). */
    loadShedding?: boolean;
    /** Adds test-only routes before the app is ready. */
    extend?: (app: App) => void;
  } = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'app-test-'));
  // With Redis, BullMQ's keys get a prefix of this app's own, removed on close (the machine's Redis is shared).
  const redisUrl = opts.env?.REDIS_URL;
  const queuePrefix = redisUrl && !opts.env?.QUEUE_PREFIX ? `test-app-${randomUUID()}` : undefined;
  const { options, cleanup } = opts.database
    ? { options: opts.database, cleanup: async () => {} }
    : await freshDatabaseOptions(opts.db ?? 'pglite');
  const config: Config = {
    // No shutdown grace unless a test asks: close() interrupts running jobs at once.
    ...loadConfig({
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      WORKER_SHUTDOWN_GRACE_S: '0',
      ...GENEROUS_RATE_LIMITS,
      // The app shares this event loop with the test's own work (building images, other apps):
      // a stall there is not the app's load. test/e2e/pressure.test.ts turns the defaults back on.
      ...(opts.loadShedding ? {} : { PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0' }),
      ...(queuePrefix ? { QUEUE_PREFIX: queuePrefix } : {}),
      ...opts.env,
    }),
    database: options,
  };
  const container = await createContainer(config, {
    loggerOptions: false,
    ...(opts.maintenanceIntervalMs ? { maintenanceIntervalMs: opts.maintenanceIntervalMs } : {}),
  });
  const app = await buildApp(container);
  opts.extend?.(app);
  await app.ready();
  if (opts.jobs) await container.startBackgroundWork();
  return {
    app,
    container,
    config,
    async close() {
      await app.close();
      await container.close();
      await cleanup();
      if (redisUrl && queuePrefix) await deleteRedisKeys(redisUrl, `${queuePrefix}:*`).catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Signs in through /auth/dev-login and returns the session cookie header. */
export async function devLogin(app: App, shop = 'demo.myshopify.com'): Promise<{ cookie: string; token: string }> {
  const res = await app.inject({ method: 'GET', url: `/auth/dev-login?shop=${shop}` });
  if (res.statusCode !== 200) throw new Error(`dev-login failed: ${res.statusCode} ${res.body}`);
  const token = (res.json() as { token: string }).token;
  return { cookie: `session=${token}`, token };
}
