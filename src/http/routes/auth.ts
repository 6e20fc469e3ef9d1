import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Container } from '../../container.js';
import { InvalidInputError, NotFoundError } from '../../lib/errors.js';
import { normalizeShopDomain } from '../../lib/shop-domain.js';
import { installShop } from '../../modules/shops/shops.js';
import { responses } from '../schemas.js';
import { defaultHost, setSessionCookies } from '../session-cookies.js';

const HostParam = Type.String({ maxLength: 512, pattern: '^[A-Za-z0-9_=-]*$' });

export const authRoutes =
  (c: Container): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/auth/dev-login',
      {
        schema: {
          tags: ['auth'],
          summary: 'Local mode only: sign in as a shop (installs it with the free credits the first time)',
          description: 'Answers 404 whenever Shopify credentials are configured.',
          querystring: Type.Object({ shop: Type.String({ maxLength: 255 }), host: Type.Optional(HostParam) }),
          response: responses({ 200: Type.Object({ shop: Type.String(), token: Type.String() }) }),
        },
      },
      async (request, reply) => {
        if (c.config.shopify.mode !== 'local') throw new NotFoundError();
        const shop = normalizeShopDomain(request.query.shop);
        if (!shop) throw new InvalidInputError('shop must be a *.myshopify.com domain', 'INVALID_SHOP');
        await installShop(c.db, shop, c.config.credits.freeCredits);
        const token = await c.auth.issueSession(shop);
        setSessionCookies(reply, { shop, token, host: request.query.host || defaultHost(shop) });
        return { shop, token };
      },
    );
  };
