import type { FastifyReply } from 'fastify';
import { SESSION_TTL_S } from '../lib/session-jwt.js';

/** compat: `session` (HttpOnly) plus readable `shop` and `host`, all Secure; SameSite=None; Path=/. */
export function setSessionCookies(reply: FastifyReply, session: { shop: string; token: string; host: string }): void {
  const base = { secure: true, sameSite: 'none' as const, path: '/', maxAge: SESSION_TTL_S };
  void reply
    .setCookie('session', session.token, { ...base, httpOnly: true })
    .setCookie('shop', session.shop, base)
    .setCookie('host', session.host, base);
}

/** The `host` App Bridge expects: base64url of `admin.shopify.com/store/{name}`. */
export function defaultHost(shop: string): string {
  return Buffer.from(`admin.shopify.com/store/${shop.replace(/\.myshopify\.com$/, '')}`).toString('base64url');
}
