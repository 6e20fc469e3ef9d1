import fastifyCors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config/load.js';
import { normalizeShopDomain } from '../../lib/shop-domain.js';

export const SHOPIFY_ADMIN_ORIGIN = 'https://admin.shopify.com';

/**
 * Headers for an app embedded in the Shopify admin: CSP frame-ancestors per
 * shop and no X-Frame-Options (it would block the admin iframe); CORS only for
 * the dashboard and the admin, with credentials.
 */
export async function registerSecurity(app: FastifyInstance, config: Config): Promise<void> {
  await app.register(fastifyHelmet, {
    global: true,
    contentSecurityPolicy: false,
    frameguard: false,
    hsts: config.http.backendUrl.startsWith('https://') ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    crossOriginEmbedderPolicy: false,
    // Signed file URLs are shown as <img> by the dashboard on another origin.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
  });

  app.addHook('onSend', async (request, reply) => {
    const query = request.query as { shop?: unknown } | undefined;
    const shop = request.shop ?? normalizeShopDomain(query?.shop);
    void reply.header(
      'content-security-policy',
      shop ? `frame-ancestors https://${shop} ${SHOPIFY_ADMIN_ORIGIN}` : "frame-ancestors 'none'",
    );
  });

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
