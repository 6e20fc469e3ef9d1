import type { IncomingMessage, ServerResponse } from 'node:http';
import fastifyCors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { Config } from '../../config/load.js';
import { normalizeShopDomain } from '../../lib/shop-domain.js';

export const SHOPIFY_ADMIN_ORIGIN = 'https://admin.shopify.com';

/**
 * The headers helmet sets for these options, computed once. Without a CSP every one of them is the
 * same for every request, and @fastify/helmet would rebuild the middleware and call the raw
 * response's setHeader per header on each request (measured: most of the app's per-request header cost).
 */
export function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: unknown) => void (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => void delete headers[name.toLowerCase()],
  };
  let failed: unknown = null;
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, (err?: unknown) => void (failed = err ?? null));
  if (failed) throw failed;
  return headers;
}

/**
 * Headers for an app embedded in the Shopify admin: CSP frame-ancestors per
 * shop and no X-Frame-Options (it would block the admin iframe). Every answer
 * also carries its request id, and `connection: close` once the server is
 * shutting down (so close() can finish). Registered first, so that answers
 * from every later hook carry them.
 */
export function registerSecurityHeaders(app: FastifyInstance, config: Config): void {
  const fixed = helmetHeaders({
    contentSecurityPolicy: false,
    xFrameOptions: false,
    strictTransportSecurity: config.http.backendUrl.startsWith('https://') ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    crossOriginEmbedderPolicy: false,
    // Signed file URLs are shown as <img> by the dashboard on another origin.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
  });

  // Callback-style hooks: no promise per request for work that is synchronous.
  app.addHook('onRequest', (request, reply, done) => {
    void reply.headers(fixed).header('x-request-id', request.id);
    done();
  });

  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    const shop = request.shop ?? normalizeShopDomain((request.query as { shop?: unknown } | undefined)?.shop);
    void reply.header('content-security-policy', shop ? `frame-ancestors https://${shop} ${SHOPIFY_ADMIN_ORIGIN}` : "frame-ancestors 'none'");
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
}

/** CORS only for the dashboard and the admin, with credentials. */
export async function registerCors(app: FastifyInstance, config: Config): Promise<void> {
  const allowed = new Set([new URL(config.http.frontendUrl).origin, SHOPIFY_ADMIN_ORIGIN]);
  await app.register(fastifyCors, {
    origin: (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Content-Type', 'Authorization', 'Idempotency-Key', 'X-Request-Id'],
    exposedHeaders: ['X-Request-Id', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Retry-After'],
    maxAge: 600,
  });
}
