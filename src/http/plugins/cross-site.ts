import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../config/load.js';
import { ForbiddenError } from '../../lib/errors.js';
import { SHOPIFY_ADMIN_ORIGIN } from './security.js';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The origins whose pages may post with the session cookie (docs/api.md, Conventions). */
export function trustedOrigins(config: Config): Set<string> {
  return new Set([new URL(config.http.frontendUrl).origin, new URL(config.http.backendUrl).origin, SHOPIFY_ADMIN_ORIGIN]);
}

/** Why a request is a browser's cross-site state-changing request authenticated by the cookie, or null. */
export function crossSiteReason(request: FastifyRequest, trusted: Set<string>): string | null {
  if (!STATE_CHANGING.has(request.method)) return null;
  // Bearer wins over the cookie in requireShop, so the cookie authenticates nothing here.
  if (request.headers.authorization !== undefined) return null;
  if (!request.cookies.session) return null;
  const origin = request.headers.origin;
  if (origin !== undefined) return trusted.has(origin) ? null : 'origin';
  return request.headers['sec-fetch-site'] === 'cross-site' ? 'sec-fetch-site' : null;
}

/**
 * The session cookie is SameSite=None (the legacy dashboard is on another
 * site) and a multipart post needs no preflight, so any page could spend the
 * merchant's credits. Refused in onRequest: before the body is read, so a
 * cross-site upload never reaches the debit.
 */
export function registerCrossSiteCheck(app: FastifyInstance, config: Config): void {
  const trusted = trustedOrigins(config);
  app.addHook('onRequest', (request, _reply, done) => {
    const reason = crossSiteReason(request, trusted);
    if (!reason) return done();
    request.log.info({ reason }, 'cross-site request refused');
    done(new ForbiddenError('Cross-site requests with the session cookie are refused', 'CROSS_SITE_REQUEST'));
  });
}
