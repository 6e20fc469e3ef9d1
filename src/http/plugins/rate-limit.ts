import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RateLimiter, RateLimitRules } from '../../adapters/ratelimit/limiter.js';
import type { Metrics } from '../../adapters/metrics/metrics.js';
import type { Config } from '../../config/load.js';
import { RateLimitedError } from '../../lib/errors.js';
import { ipIdentity } from '../../lib/client-ip.js';

export type RateLimitGroup = 'default' | 'upload';

const EXEMPT_ROUTES = new Set(['/health', '/ready', '/metrics', '/docs']);

/**
 * The group of a request, from its method and matched route template (not the
 * raw URL, so `/health?x` or `/Health` tricks change nothing); null = exempt.
 * Unmatched requests (404) are limited in the default group.
 */
export function rateLimitGroup(method: string, routeUrl: string | undefined): RateLimitGroup | null {
  if (method === 'OPTIONS') return null;
  if (routeUrl !== undefined && (EXEMPT_ROUTES.has(routeUrl) || routeUrl.startsWith('/docs/'))) return null;
  // The dashboard's page and assets come from memory or disk, touch no database, and would
  // otherwise spend the shop's API budget on every page load.
  if (routeUrl === '/' || routeUrl === '/app' || routeUrl?.startsWith('/app/')) return null;
  // Webhooks come from Shopify's servers, are HMAC-verified and deduplicated: a 429 would only make Shopify retry.
  if (routeUrl?.startsWith('/webhooks/')) return null;
  if (routeUrl === '/upload' || routeUrl?.startsWith('/upload/')) return 'upload';
  return 'default';
}

export interface RateLimitDeps {
  limiter: RateLimiter;
  rules: Config['rateLimit'];
  metrics: Metrics;
  /** The shop of a cryptographically verified credential, or null (verifiedShopOf: verified once per request). */
  identify: (request: FastifyRequest) => Promise<string | null>;
}

/**
 * Limits every non-exempt request per identity and route group, before any
 * body is read: identity is the shop of a verified credential, else the client
 * IP (request.ip, which honours TRUST_PROXY). A failing limiter never fails
 * the request: the fallback answers, and if even that throws the request passes.
 * Registered after @fastify/cookie (it reads the session cookie).
 */
export function registerRateLimit(app: FastifyInstance, deps: RateLimitDeps): void {
  const allowlist = new Set(deps.rules.allowlist);

  async function identityOf(request: FastifyRequest): Promise<{ key: string; shop: string | null }> {
    const shop = await deps.identify(request).catch(() => null);
    return shop ? { key: `shop:${shop}`, shop } : { key: `ip:${ipIdentity(request.ip)}`, shop: null };
  }

  app.addHook('onRequest', async (request, reply) => {
    const group = rateLimitGroup(request.method, request.routeOptions.url);
    if (!group) return;
    const { key, shop } = await identityOf(request);
    if (shop && allowlist.has(shop)) return;

    const rules: RateLimitRules = deps.rules[group];
    let result;
    try {
      result = await deps.limiter.check(`${group}:${key}`, rules);
    } catch (err) {
      request.log.error({ err }, 'rate limiter failed; request let through');
      return;
    }
    if (result.fallback) {
      deps.metrics.rateLimiterFallbacks.inc();
      if (result.fallback.error) {
        request.log.warn({ err: result.fallback.error }, 'Redis rate limiter failed; in-process limiter takes over');
      }
    }
    void reply.headers({
      'ratelimit-limit': String(result.limit),
      'ratelimit-remaining': String(result.remaining),
      'ratelimit-reset': String(result.resetS),
    });
    if (!result.allowed) {
      deps.metrics.rateLimited.inc({ group });
      throw new RateLimitedError(result.retryAfterS);
    }
  });
}
