import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Container } from '../../container.js';
import { AUTHENTICATED } from '../security-schemes.js';
import { sessionOf } from '../plugins/auth.js';
import { responses } from '../schemas.js';

export const meRoutes =
  (_c: Container): FastifyPluginAsyncTypebox =>
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
        // Plan and balance come with the installed check (one query per request).
        const { shop, plan, credits } = sessionOf(request);
        return { shop, status: 'authenticated' as const, plan, credits };
      },
    );
  };
