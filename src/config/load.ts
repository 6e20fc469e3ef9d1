import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { REFERENCE_JOB_PIXELS } from '../adapters/processor/remove-bg/budget.js';
import { defaultModelPath } from '../adapters/processor/remove-bg/model-path.js';
import { envSchema, type Env } from './schema.js';
import { fromShopifyCli, startedByShopifyCli } from './shopify-cli.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface Plan {
  id: string;
  credits: number;
  /** Decimal string with two digits, e.g. "10.00": money is never a float here. */
  price: string;
  currency: string;
}

export type ShopifyMode = 'local' | 'shopify';

export interface Config {
  nodeEnv: Env['NODE_ENV'];
  logLevel: Env['LOG_LEVEL'];
  http: {
    port: number;
    host: string;
    backendUrl: string;
    /** The dashboard: the CORS origin and redirect target. Default: the built-in one at BACKEND_URL/app. */
    frontendUrl: string;
    trustProxy: boolean | number | string[];
    /** Header, whole-request, socket-idle and keep-alive timeouts (ms): a slow client cannot hold a socket. */
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    idleTimeoutMs: number;
    keepAliveTimeoutMs: number;
    /** Sockets beyond this are closed at once. */
    maxConnections: number;
    /** Bodies read before their request is authenticated (JSON, webhooks) at once; more: 503 with Retry-After. */
    maxUnauthenticatedBodies: number;
  };
  /** Load shedding thresholds (0: off). */
  pressure: { maxEventLoopDelayMs: number; maxHeapUsedBytes: number };
  /** GET /images/events in one API process: caps, and the lifetime after which a client reconnects with fresh credentials. */
  events: { maxPerShop: number; maxTotal: number; maxLifetimeMs: number };
  dataDir: string;
  /** PGlite without dataDir runs in memory (tests). */
  database: { kind: 'pglite'; dataDir?: string } | { kind: 'postgres'; url: string; poolSize?: number };
  redisUrl: string | undefined;
  workerConcurrency: number;
  /** How long a worker owns a running job without renewing it: a killed worker's job runs again after this. */
  queueLockMs: number;
  /** BullMQ: how many times a job whose worker died is taken again before it is failed (and its image with it). */
  queueMaxStalled: number;
  /** Prefix of BullMQ's Redis keys (several apps or environments can share one Redis). */
  queuePrefix: string;
  /** On SIGTERM, running jobs get this long to finish before they are handed back to the queue. */
  workerShutdownGraceMs: number;
  /** Where a worker process serves /health and /metrics; undefined: it serves nothing. */
  workerPort: number | undefined;
  storage:
    | { kind: 'local'; root: string }
    | {
        kind: 's3';
        bucket: string;
        endpoint?: string;
        region: string;
        accessKeyId?: string;
        secretAccessKey?: string;
        forcePathStyle: boolean;
      }
    | { kind: 'supabase'; url: string; serviceRoleKey: string; bucket: string };
  shopify: {
    mode: ShopifyMode;
    apiKey: string;
    apiSecret: string;
    scopes: string;
    apiVersion: string;
    adminUrlTemplate: string;
    billingTest: boolean;
    /** The origin product images are fetched from (SHOPIFY_CDN_URL). */
    cdnOrigin: string;
  };
  /** ORIGINALS_RETENTION_DAYS. */
  originalsRetentionDays: number;
  catalogue: { batchPageSize: number; mediaPollMs: number };
  /** Signs new session cookies (and derives the file-URL and OAuth-state keys). */
  jwtSecret: string;
  /** Retired secrets still accepted when verifying a session cookie or file URL during a rotation. */
  jwtPreviousSecrets: string[];
  /** 32 raw bytes for AES-256-GCM: encrypts new tokens. */
  tokenEncryptionKey: Buffer;
  /** Retired keys still tried when decrypting stored tokens, until `npm run tokens:reencrypt` has run. */
  tokenEncryptionPreviousKeys: Buffer[];
  processor: { kind: 'local' } | { kind: 'makeit3d'; apiKey: string; baseUrl: string };
  providerTimeoutMs: number;
  maxUploadBytes: number;
  maxInputPixels: number;
  /** The local remove-bg model (REMOVE_BG_*); a bad file fails the start of a process that runs jobs. */
  removeBg: { modelPath: string; threads: number; concurrency: number; maxPixelsInFlight: number };
  credits: { currency: string; plans: Plan[]; freeCredits: number; sandbox: boolean };
  rateLimit: {
    default: { burst: number; burstWindowS: number; sustained: number; sustainedWindowS: number };
    upload: { burst: number; burstWindowS: number; sustained: number; sustainedWindowS: number };
    allowlist: string[];
    /** Prefix of the limiter's Redis keys. */
    keyPrefix: string;
  };
  sentryDsn: string | undefined;
  /** The built dashboard served at /app (dist/web). */
  webDistDir: string;
}

/**
 * Reads and validates the environment once. Throws a ConfigError whose message
 * is one line naming the variable. Secrets missing in local mode, or under
 * `shopify app dev`, are generated once and kept in DATA_DIR (so sessions
 * survive restarts).
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const cliDev = startedByShopifyCli(source);
  const parsed = envSchema.safeParse(fromShopifyCli(source));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${issue.path.join('.')}: ${issue.message}`);
  }
  const env = parsed.data;
  const dataDir = path.resolve(env.DATA_DIR);

  if (Boolean(env.SHOPIFY_API_KEY) !== Boolean(env.SHOPIFY_API_SECRET)) {
    throw new ConfigError(
      `${env.SHOPIFY_API_KEY ? 'SHOPIFY_API_SECRET' : 'SHOPIFY_API_KEY'}: must be set together with the other one`,
    );
  }
  const shopifyMode: ShopifyMode = env.SHOPIFY_API_KEY ? 'shopify' : 'local';
  if (shopifyMode === 'local' && env.SANDBOX_MODE === false) {
    throw new ConfigError('SANDBOX_MODE: false needs SHOPIFY_API_KEY and SHOPIFY_API_SECRET (real billing)');
  }
  if (!env.SHOPIFY_ADMIN_URL_TEMPLATE.includes('{shop}')) {
    throw new ConfigError('SHOPIFY_ADMIN_URL_TEMPLATE: must contain {shop}');
  }

  const secrets = shopifyMode === 'local' || cliDev ? localSecrets(dataDir) : undefined;
  const jwtSecret = env.JWT_SECRET ?? secrets?.jwtSecret;
  if (!jwtSecret) throw new ConfigError('JWT_SECRET: required when Shopify is configured (at least 32 characters)');
  if (jwtSecret.length < 32) throw new ConfigError('JWT_SECRET: must be at least 32 characters');
  if (env.JWT_SECRET_PREVIOUS.some((s) => s.length < 32)) {
    throw new ConfigError('JWT_SECRET_PREVIOUS: each secret must be at least 32 characters');
  }
  const keyText = env.TOKEN_ENCRYPTION_KEY ?? secrets?.tokenEncryptionKey;
  if (!keyText) {
    throw new ConfigError('TOKEN_ENCRYPTION_KEY: required when Shopify is configured (32 bytes, base64)');
  }
  const tokenEncryptionKey = Buffer.from(keyText, 'base64');
  if (tokenEncryptionKey.length !== 32) throw new ConfigError('TOKEN_ENCRYPTION_KEY: must be 32 bytes, base64-encoded');
  const tokenEncryptionPreviousKeys = env.TOKEN_ENCRYPTION_KEY_PREVIOUS.map((k) => Buffer.from(k, 'base64'));
  if (tokenEncryptionPreviousKeys.some((k) => k.length !== 32)) {
    throw new ConfigError('TOKEN_ENCRYPTION_KEY_PREVIOUS: each key must be 32 bytes, base64-encoded');
  }

  if (env.HTTP_HEADERS_TIMEOUT_S > env.HTTP_REQUEST_TIMEOUT_S) {
    throw new ConfigError('HTTP_HEADERS_TIMEOUT_S: must not exceed HTTP_REQUEST_TIMEOUT_S');
  }
  const backendUrl = stripSlash(env.BACKEND_URL ?? `http://localhost:${env.PORT}`);
  return {
    nodeEnv: env.NODE_ENV,
    logLevel: env.LOG_LEVEL,
    http: {
      port: env.PORT,
      host: env.HOST,
      backendUrl,
      frontendUrl: stripSlash(env.FRONTEND_URL ?? `${backendUrl}/app`),
      trustProxy: parseTrustProxy(env.TRUST_PROXY),
      headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_S * 1000,
      requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_S * 1000,
      idleTimeoutMs: env.HTTP_IDLE_TIMEOUT_S * 1000,
      keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_S * 1000,
      maxConnections: env.HTTP_MAX_CONNECTIONS,
      maxUnauthenticatedBodies: env.HTTP_MAX_UNAUTHENTICATED_BODIES,
    },
    pressure: {
      maxEventLoopDelayMs: env.PRESSURE_MAX_EVENT_LOOP_DELAY_MS,
      maxHeapUsedBytes: env.PRESSURE_MAX_HEAP_MB
        ? env.PRESSURE_MAX_HEAP_MB * 1024 * 1024
        : Math.floor(env.PRESSURE_MAX_HEAP_RATIO * getHeapStatistics().heap_size_limit),
    },
    events: {
      maxPerShop: env.EVENTS_MAX_STREAMS_PER_SHOP,
      maxTotal: env.EVENTS_MAX_STREAMS,
      maxLifetimeMs: env.EVENTS_MAX_LIFETIME_S * 1000,
    },
    dataDir,
    database: env.DATABASE_URL
      ? { kind: 'postgres', url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE }
      : { kind: 'pglite', dataDir: path.join(dataDir, 'db') },
    redisUrl: env.REDIS_URL,
    workerConcurrency: env.WORKER_CONCURRENCY,
    queueLockMs: env.QUEUE_LOCK_MS,
    queueMaxStalled: env.QUEUE_MAX_STALLED,
    queuePrefix: env.QUEUE_PREFIX,
    workerShutdownGraceMs: env.WORKER_SHUTDOWN_GRACE_S * 1000,
    workerPort: env.WORKER_PORT,
    storage: storageConfig(env, dataDir),
    shopify: {
      mode: shopifyMode,
      apiKey: env.SHOPIFY_API_KEY ?? '',
      apiSecret: env.SHOPIFY_API_SECRET ?? '',
      scopes: env.SHOPIFY_SCOPES,
      apiVersion: env.SHOPIFY_API_VERSION,
      adminUrlTemplate: stripSlash(env.SHOPIFY_ADMIN_URL_TEMPLATE),
      // `shopify app dev` runs on a development store: its purchases are test charges.
      billingTest: env.BILLING_TEST ?? cliDev,
      cdnOrigin: new URL(env.SHOPIFY_CDN_URL).origin,
    },
    originalsRetentionDays: env.ORIGINALS_RETENTION_DAYS,
    catalogue: { batchPageSize: env.CATALOGUE_BATCH_PAGE_SIZE, mediaPollMs: env.SHOPIFY_MEDIA_POLL_MS },
    jwtSecret,
    jwtPreviousSecrets: env.JWT_SECRET_PREVIOUS.filter((s) => s !== jwtSecret),
    tokenEncryptionKey,
    tokenEncryptionPreviousKeys: tokenEncryptionPreviousKeys.filter((k) => !k.equals(tokenEncryptionKey)),
    processor: env.MAKEIT3D_API_KEY
      ? { kind: 'makeit3d', apiKey: env.MAKEIT3D_API_KEY, baseUrl: stripSlash(env.MAKEIT3D_BASE_URL) }
      : { kind: 'local' },
    providerTimeoutMs: env.PROVIDER_TIMEOUT_S * 1000,
    maxUploadBytes: Math.floor(env.MAX_UPLOAD_MB * 1024 * 1024),
    maxInputPixels: env.MAX_INPUT_PIXELS,
    removeBg: {
      modelPath: modelPath(env.REMOVE_BG_MODEL),
      threads: env.REMOVE_BG_THREADS ?? Math.min(4, availableParallelism()),
      concurrency: env.REMOVE_BG_CONCURRENCY,
      maxPixelsInFlight: env.REMOVE_BG_MAX_PIXELS_IN_FLIGHT ?? env.REMOVE_BG_CONCURRENCY * REFERENCE_JOB_PIXELS,
    },
    credits: {
      currency: env.CREDITS_CURRENCY,
      plans: parsePlans(env.CREDIT_PLANS, env.CREDITS_CURRENCY),
      freeCredits: env.FREE_CREDITS,
      sandbox: env.SANDBOX_MODE ?? shopifyMode === 'local',
    },
    rateLimit: {
      default: {
        burst: env.RL_BURST_LIMIT,
        burstWindowS: env.RL_BURST_WINDOW,
        sustained: env.RL_SUST_LIMIT,
        sustainedWindowS: env.RL_SUST_WINDOW,
      },
      upload: {
        burst: env.RL_UPLOAD_BURST_LIMIT,
        burstWindowS: env.RL_BURST_WINDOW,
        sustained: env.RL_UPLOAD_SUST_LIMIT,
        sustainedWindowS: env.RL_SUST_WINDOW,
      },
      allowlist: env.RL_ALLOWLIST.map((s) => s.toLowerCase()),
      keyPrefix: env.RL_KEY_PREFIX,
    },
    sentryDsn: env.SENTRY_DSN,
    webDistDir: path.resolve(env.WEB_DIST_DIR ?? fileURLToPath(new URL('../../dist/web', import.meta.url))),
  };
}

function stripSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function storageConfig(env: Env, dataDir: string): Config['storage'] {
  if (env.S3_BUCKET) {
    return {
      kind: 's3',
      bucket: env.S3_BUCKET,
      ...(env.S3_ENDPOINT ? { endpoint: env.S3_ENDPOINT } : {}),
      region: env.S3_REGION,
      ...(env.S3_ACCESS_KEY_ID ? { accessKeyId: env.S3_ACCESS_KEY_ID } : {}),
      ...(env.S3_SECRET_ACCESS_KEY ? { secretAccessKey: env.S3_SECRET_ACCESS_KEY } : {}),
      forcePathStyle: env.S3_FORCE_PATH_STYLE ?? Boolean(env.S3_ENDPOINT),
    };
  }
  if (env.SUPABASE_URL) {
    if (!env.SUPABASE_SERVICE_ROLE_KEY) throw new ConfigError('SUPABASE_SERVICE_ROLE_KEY: required with SUPABASE_URL');
    return {
      kind: 'supabase',
      url: stripSlash(env.SUPABASE_URL),
      serviceRoleKey: env.SUPABASE_SERVICE_ROLE_KEY,
      bucket: env.SUPABASE_BUCKET,
    };
  }
  return { kind: 'local', root: path.join(dataDir, 'files') };
}

function parseTrustProxy(value: string): Config['http']['trustProxy'] {
  const v = value.trim().toLowerCase();
  if (v === 'false' || v === '0') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!list.every((s) => /^[0-9a-f.:/]+$/.test(s))) {
    throw new ConfigError('TRUST_PROXY: must be true, false, a hop count, or a comma list of IPs/CIDRs');
  }
  return list;
}

export const DEFAULT_PLANS = '100:100:10.00,500:500:45.00,1000:1000:75.00,5000:5000:300.00';

/** CREDIT_PLANS: comma list of `id:credits:price`, e.g. `100:100:10.00`. */
export function parsePlans(text: string | undefined, currency: string): Plan[] {
  const plans = (text ?? DEFAULT_PLANS).split(',').map((entry) => {
    const m = /^\s*([A-Za-z0-9_-]{1,32}):(\d{1,9}):(\d{1,9}(?:\.\d{1,2})?)\s*$/.exec(entry);
    if (!m) throw new ConfigError(`CREDIT_PLANS: "${entry.trim()}" is not id:credits:price (e.g. 100:100:10.00)`);
    const credits = Number(m[2]);
    if (credits <= 0) throw new ConfigError(`CREDIT_PLANS: plan ${m[1]} must grant at least one credit`);
    return { id: m[1]!, credits, price: Number(m[3]).toFixed(2), currency };
  });
  if (new Set(plans.map((p) => p.id)).size !== plans.length) throw new ConfigError('CREDIT_PLANS: plan ids must be unique');
  return plans;
}

interface LocalSecrets {
  jwtSecret: string;
  tokenEncryptionKey: string;
}

/** Local mode only: generated once, kept (mode 0600) so cookies and stored tokens survive restarts. */
function localSecrets(dataDir: string): LocalSecrets {
  const file = path.join(dataDir, 'local-secrets.json');
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalSecrets>;
    if (typeof saved.jwtSecret === 'string' && typeof saved.tokenEncryptionKey === 'string') {
      return saved as LocalSecrets;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError(`DATA_DIR: cannot read ${file}: ${(err as Error).message}`);
    }
  }
  const secrets: LocalSecrets = {
    jwtSecret: randomBytes(48).toString('base64url'),
    tokenEncryptionKey: randomBytes(32).toString('base64'),
  };
  try {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(secrets), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process won the race: use what it wrote.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return localSecrets(dataDir);
    throw new ConfigError(`DATA_DIR: cannot write ${file}: ${(err as Error).message}`);
  }
  return secrets;
}

/** REMOVE_BG_MODEL must name a readable file; whether ONNX Runtime can load it is checked at start (container.ts). */
function modelPath(given: string | undefined): string {
  if (given === undefined) return defaultModelPath();
  const resolved = path.resolve(given);
  try {
    accessSync(resolved, fsConstants.R_OK);
    if (!statSync(resolved).isFile()) throw new Error('not a file');
  } catch {
    throw new ConfigError(`REMOVE_BG_MODEL: no readable file at ${resolved}`);
  }
  return resolved;
}
