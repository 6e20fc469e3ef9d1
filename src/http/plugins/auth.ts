import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UnauthenticatedError } from '../../lib/errors.js';
import type { Authenticator } from '../../modules/shops/authenticate.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified shop, set by requireShop. */
    shop: string | null;
  }
  interface FastifyInstance {
    requireShop: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
}

const MAX_TOKEN_LENGTH = 8192;

/** Bearer session token first (embedded app), else the compat `session` cookie. */
export function registerAuth(app: FastifyInstance, auth: Authenticator): void {
  app.decorateRequest('shop', null);
  app.decorate('requireShop', async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header);
      if (!m || m[1]!.length > MAX_TOKEN_LENGTH) throw new UnauthenticatedError('Malformed Authorization header');
      request.shop = await auth.fromSessionToken(m[1]!);
      return;
    }
    const cookie = request.cookies.session;
    if (!cookie || cookie.length > MAX_TOKEN_LENGTH) throw new UnauthenticatedError();
    request.shop = await auth.fromSessionCookie(cookie);
  });
}

/** The verified shop of a route that ran requireShop. */
export function shopOf(request: FastifyRequest): string {
  if (!request.shop) throw new UnauthenticatedError();
  return request.shop;
}
