import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { jwtVerify, SignJWT } from 'jose';
import { type Container, deriveKey } from '../../container.js';
import { DomainError, InvalidInputError, NotFoundError } from '../../lib/errors.js';
import { hmacKey } from '../../lib/hmac-key.js';
import { normalizeShopDomain } from '../../lib/shop-domain.js';
import { claimOnce } from '../../modules/shops/webhook-events.js';
import { responses } from '../schemas.js';
import { defaultHost, setSessionCookies } from '../session-cookies.js';

/**
 * OAuth code grant (compat fallback of the embedded token-exchange flow):
 * /auth/install -> FRONTEND_URL/auth/toplevel -> /auth/oauth -> Shopify ->
 * /auth/callback. Every check of shopify.md happens before the code is sent
 * anywhere, and nothing is stored unless all pass. The HMAC (and its
 * timestamp) is checked by the official library; the state cookie, its
 * single use and the exact shop are ours (the library's begin/callback keep
 * a 60 s state cookie of their own and refuse non-browser clients).
 */

const HOST_RE = /^[A-Za-z0-9_=-]{0,512}$/;
const HostParam = Type.String({ maxLength: 512, pattern: '^[A-Za-z0-9_=-]*$' });
const STATE_COOKIE = 'shopify_oauth_state';
const STATE_TTL_S = 600;

const oauthError = (message: string, code: string) => new DomainError('unauthenticated', message, code);

export const shopifyAuthRoutes =
  (c: Container): FastifyPluginAsyncTypebox =>
  async (app) => {
    const { frontendUrl, backendUrl } = c.config.http;
    const stateKey = hmacKey(deriveKey(c.config.jwtSecret, 'oauth-state'));
    c.shopify?.setWarningHandler((message, err) =>
      app.log.warn({ err: err instanceof Error ? { name: err.name, message: err.message } : String(err) }, message),
    );

    const shopParam = (value: string) => {
      const shop = normalizeShopDomain(value);
      if (!shop) throw new InvalidInputError('shop must be a *.myshopify.com domain', 'INVALID_SHOP');
      return shop;
    };

    app.get(
      '/auth/install',
      {
        schema: {
          tags: ['auth'],
          summary: 'compat: start an install; redirects to the dashboard page that breaks out of the iframe',
          querystring: Type.Object({ shop: Type.String({ maxLength: 255 }), host: Type.Optional(HostParam) }),
          response: responses({ 302: Type.Null() }),
        },
      },
      async (request, reply) => {
        const shop = shopParam(request.query.shop);
        const q = new URLSearchParams({ shop, host: request.query.host || defaultHost(shop) });
        return reply.redirect(`${frontendUrl}/auth/toplevel?${q.toString()}`, 302);
      },
    );

    app.get(
      '/auth/oauth',
      {
        schema: {
          tags: ['auth'],
          summary: "compat: redirect to Shopify's authorize page with a fresh state nonce (kept in a signed cookie)",
          querystring: Type.Object({ shop: Type.String({ maxLength: 255 }), host: Type.Optional(HostParam) }),
          response: responses({ 302: Type.Null() }),
        },
      },
      async (request, reply) => {
        const shopify = c.shopify;
        if (!shopify) throw new NotFoundError();
        const shop = shopParam(request.query.shop);
        const nonce = randomBytes(24).toString('base64url');
        const host = request.query.host || defaultHost(shop);
        const cookie = await new SignJWT({ nonce, shop, host })
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuedAt()
          .setExpirationTime(`${STATE_TTL_S}s`)
          .sign(await stateKey);
        void reply.setCookie(STATE_COOKIE, cookie, {
          httpOnly: true,
          secure: true,
          sameSite: 'lax',
          path: '/auth',
          maxAge: STATE_TTL_S,
        });
        return reply.redirect(shopify.auth.authorizeUrl(shop, `${backendUrl}/auth/callback`, nonce), 302);
      },
    );

    app.get(
      '/auth/callback',
      {
        schema: {
          tags: ['auth'],
          summary: 'compat: OAuth callback; verifies HMAC, state, shop and timestamp, exchanges the code, installs the shop',
          description: 'Any failed check: 400/401 and nothing stored. Success: session cookies and 302 to FRONTEND_URL/dashboard.',
          querystring: Type.Object({
            shop: Type.Optional(Type.String({ maxLength: 255 })),
            code: Type.Optional(Type.String({ maxLength: 512 })),
            state: Type.Optional(Type.String({ maxLength: 512 })),
            hmac: Type.Optional(Type.String({ maxLength: 128 })),
            timestamp: Type.Optional(Type.String({ maxLength: 20 })),
            host: Type.Optional(Type.String({ maxLength: 512 })),
          }),
          response: responses({ 302: Type.Null() }),
        },
      },
      async (request, reply) => {
        const shopify = c.shopify;
        if (!shopify) throw new NotFoundError();
        const rawQuery = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
        const q = request.query;

        // 1. The signature over the whole query and its freshness, before trusting any value in it.
        if (!(await shopify.auth.verifyCallbackQuery(rawQuery))) {
          throw oauthError('Invalid HMAC, or the request is too old', 'INVALID_HMAC');
        }
        // 2. The shop exactly as Shopify sends it (lower-case, no port, path or userinfo).
        const shop = normalizeShopDomain(q.shop);
        if (!shop || shop !== q.shop) throw new InvalidInputError('shop must be a *.myshopify.com domain', 'INVALID_SHOP');
        // 3. The state this browser was given, for this shop.
        const cookie = request.cookies[STATE_COOKIE];
        let saved: { nonce: string; shop: string; host: string } | null = null;
        if (cookie && cookie.length < 2048) {
          try {
            const { payload } = await jwtVerify(cookie, await stateKey, { algorithms: ['HS256'], requiredClaims: ['exp'] });
            if (typeof payload.nonce === 'string' && typeof payload.shop === 'string' && typeof payload.host === 'string') {
              saved = { nonce: payload.nonce, shop: payload.shop, host: payload.host };
            }
          } catch {
            saved = null;
          }
        }
        if (!saved || !q.state || saved.nonce !== q.state || saved.shop !== shop) {
          throw oauthError('Invalid OAuth state', 'INVALID_STATE');
        }
        if (!q.code || !/^[A-Za-z0-9_-]{1,512}$/.test(q.code)) {
          throw new InvalidInputError('Missing or malformed code', 'INVALID_CODE');
        }
        // 4. Used once, whichever process sees it.
        if (!(await claimOnce(c.db, 'oauth/state', saved.nonce, shop))) throw oauthError('OAuth state already used', 'INVALID_STATE');

        const tokens = await shopify.auth.exchangeCode(shop, q.code);
        await shopify.lifecycle.install(shop, tokens);

        void reply.clearCookie(STATE_COOKIE, { path: '/auth', secure: true, httpOnly: true, sameSite: 'lax' });
        const host = HOST_RE.test(saved.host) && saved.host ? saved.host : defaultHost(shop);
        setSessionCookies(reply, { shop, token: await c.auth.issueSession(shop), host });
        return reply.redirect(`${frontendUrl}/dashboard`, 302);
      },
    );
  };
