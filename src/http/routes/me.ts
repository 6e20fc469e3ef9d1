import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Container } from '../../container.js';
import { balanceOf } from '../../modules/ledger/ledger.js';
import { getShop } from '../../modules/shops/shops.js';
import { AUTHENTICATED } from '../security-schemes.js';
import { shopOf } from '../plugins/auth.js';
import { responses } from '../schemas.js';

export const meRoutes =
  (c: Container): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/me',
      {
        preHandler: app.requireShop,
        schema: {
          tags: ['account'],
          summary: 'The signed-in shop',
          security: AUTHENTICATED,
          response: responses({
            200: Type.Object({
              shop: Type.String(),
              status: Type.Literal('authenticated'),
              plan: Type.String(),
              credits: Type.Integer(),
            }),
          }),
        },
      },
      async (request) => {
        const shop = shopOf(request);
        const [row, credits] = await Promise.all([getShop(c.db, shop), balanceOf(c.db, shop)]);
        return { shop, status: 'authenticated' as const, plan: row?.plan ?? 'free', credits };
      },
    );
  };
