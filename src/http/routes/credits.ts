import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Container } from '../../container.js';
import { balanceOf } from '../../modules/ledger/ledger.js';
import { shopOf } from '../plugins/auth.js';
import { responses } from '../schemas.js';
import { AUTHENTICATED } from '../security-schemes.js';

export const creditRoutes =
  (c: Container): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/credits/me',
      {
        preHandler: app.requireShop,
        schema: {
          tags: ['credits'],
          summary: "The shop's credit balance",
          security: AUTHENTICATED,
          response: responses({ 200: Type.Object({ credits: Type.Integer() }) }),
        },
      },
      async (request) => ({ credits: await balanceOf(c.db, shopOf(request)) }),
    );
  };
