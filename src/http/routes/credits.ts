import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Container } from '../../container.js';
import { InvalidInputError } from '../../lib/errors.js';
import { listTransactions } from '../../modules/ledger/ledger.js';
import { sessionOf, shopOf } from '../plugins/auth.js';
import { responses, StrictObject } from '../schemas.js';
import { AUTHENTICATED } from '../security-schemes.js';
import { decodeCursor, encodeCursor } from '../cursor.js';

const Plan = Type.Object({ id: Type.String(), credits: Type.Integer(), price: Type.String(), currency: Type.String() });
const Transaction = Type.Object({
  id: Type.String({ format: 'uuid' }),
  delta: Type.Integer(),
  reason: Type.String(),
  reference: Type.String(),
  balance_after: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
});

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
      // The balance read with the installed check (one query per request).
      async (request) => ({ credits: sessionOf(request).credits }),
    );

    app.get(
      '/credits/plans',
      {
        schema: {
          tags: ['credits'],
          summary: 'The credit plans on sale',
          response: responses({ 200: Type.Object({ plans: Type.Array(Plan) }) }),
        },
      },
      async () => ({ plans: c.config.credits.plans }),
    );

    app.get(
      '/credits/transactions',
      {
        preHandler: app.requireShop,
        schema: {
          tags: ['credits'],
          summary: "The shop's ledger, newest first",
          security: AUTHENTICATED,
          querystring: Type.Object({
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
          }),
          response: responses({
            200: Type.Object({ transactions: Type.Array(Transaction), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          }),
        },
      },
      async (request) => {
        const { limit, cursor } = request.query;
        const rows = await listTransactions(c.db, shopOf(request), limit + 1, cursor ? decodeCursor(cursor) : undefined);
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        return {
          transactions: page.map((r) => ({
            id: r.id,
            delta: r.delta,
            reason: r.reason,
            reference: r.reference,
            balance_after: r.balanceAfter,
            created_at: r.createdAt.toISOString(),
          })),
          next_cursor: rows.length > limit && last ? encodeCursor(last) : null,
        };
      },
    );

    app.post(
      '/credits/checkout',
      {
        preHandler: app.requireShop,
        schema: {
          tags: ['credits'],
          summary: 'Start buying a plan: answers the URL where the merchant approves the charge',
          security: AUTHENTICATED,
          body: StrictObject({ planId: Type.String({ minLength: 1, maxLength: 64 }) }),
          response: responses({ 200: Type.Object({ confirmationUrl: Type.String() }) }),
        },
      },
      async (request) => {
        const { confirmationUrl } = await c.purchases.checkout(shopOf(request), request.body.planId);
        return { confirmationUrl };
      },
    );

    app.get(
      '/credits/confirm',
      {
        schema: {
          tags: ['credits'],
          summary: "Where the merchant lands after approving a charge (Shopify's return URL)",
          description:
            'No session needed: purchaseId is our unguessable pending-purchase id; its row names the shop and the plan. ' +
            'Credits an ACTIVE purchase once, then redirects to the dashboard.',
          querystring: Type.Object({
            purchaseId: Type.String({ maxLength: 64 }),
            planId: Type.Optional(Type.String({ maxLength: 64 })),
            charge_id: Type.Optional(Type.String({ maxLength: 64 })),
          }),
          response: { 302: Type.Null({ description: 'Redirect to the dashboard' }), '4xx': Type.Ref('Error') },
        },
      },
      async (request, reply) => {
        const { purchaseId, planId } = request.query;
        const result = await c.purchases.confirm(purchaseId, planId);
        const { frontendUrl, backendUrl } = c.config.http;
        // The built-in dashboard also gets the shop: it lands at top level, outside the admin,
        // and needs the shop to go back in (docs/dashboard.md). The legacy one gets the compat URL.
        const builtIn = frontendUrl === `${backendUrl}/app`;
        const landing = (path: string, params: Record<string, string> = {}) => {
          const q = new URLSearchParams({ ...params, ...(builtIn ? { shop: result.shop } : {}) }).toString();
          return reply.redirect(`${frontendUrl}${path}${q ? `?${q}` : ''}`, 302);
        };
        switch (result.outcome) {
          case 'credited':
          case 'already_credited':
            return landing('/dashboard', { credits_added: String(result.credits) });
          case 'pending':
            return landing('/payment-pending');
          case 'declined':
            return landing('/dashboard', { purchase: 'declined' });
          default:
            throw new InvalidInputError('Unknown purchase state');
        }
      },
    );
  };
