import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UnauthenticatedError } from '../../lib/errors.js';
import { type Authenticator, credentialOf, type ShopSession } from '../../modules/shops/authenticate.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified shop, set by requireShop. */
    shop: string | null;
    /** The verified shop's session (plan, balance at authentication), set by requireShop. */
    shopSession: ShopSession | null;
    /** The signature check of this request's credential, made at most once (see verifiedShopOf). */
    verifiedShop: Promise<string | null> | null;
  }
  interface FastifyInstance {
    requireShop: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
}

function credentialsOf(request: FastifyRequest) {
  return credentialOf({ authorization: request.headers.authorization, cookie: request.cookies?.session });
}

/**
 * The shop named by the request's credential, or null (absent, malformed, forged, expired).
 * Verified once per request: the rate limiter's identity and requireShop share the answer.
 */
export function verifiedShopOf(auth: Authenticator, request: FastifyRequest): Promise<string | null> {
  if (!request.verifiedShop) {
    const credential = credentialsOf(request);
    request.verifiedShop = credential && credential !== 'malformed' ? auth.verify(credential).catch(() => null) : Promise.resolve(null);
  }
  return request.verifiedShop;
}

/** Bearer session token first (embedded app), else the compat `session` cookie. */
export function registerAuth(app: FastifyInstance, auth: Authenticator): void {
  app.decorateRequest('shop', null);
  app.decorateRequest('shopSession', null);
  app.decorateRequest('verifiedShop', null);
  app.decorate('requireShop', async (request: FastifyRequest) => {
    const credential = credentialsOf(request);
    if (credential === 'malformed') {
      throw new UnauthenticatedError(request.headers.authorization !== undefined ? 'Malformed Authorization header' : undefined);
    }
    if (!credential) throw new UnauthenticatedError();
    const session = await auth.session(credential, await verifiedShopOf(auth, request));
    request.shopSession = session;
    request.shop = session.shop;
  });
}

/** The verified shop of a route that ran requireShop. */
export function shopOf(request: FastifyRequest): string {
  if (!request.shop) throw new UnauthenticatedError();
  return request.shop;
}

/** The session of a route that ran requireShop. */
export function sessionOf(request: FastifyRequest): ShopSession {
  if (!request.shopSession) throw new UnauthenticatedError();
  return request.shopSession;
}
