import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { verifyWebhookHmac } from '../../adapters/shopify/hmac.js';
import type { Container } from '../../container.js';
import { DomainError, InvalidInputError } from '../../lib/errors.js';
import { normalizeShopDomain } from '../../lib/shop-domain.js';
import { forgetWebhookEvent, recordWebhookEvent } from '../../modules/shops/webhook-events.js';
import { responses } from '../schemas.js';

/**
 * Shopify webhooks. The body is kept raw (a content-type parser scoped to this
 * plugin), its HMAC checked before anything is parsed, then the delivery is
 * recorded by webhook id (a repeat answers 200 and does nothing) and handled.
 * The work is a few database statements, far inside Shopify's 5 s.
 */

const MAX_BODY = 1024 * 1024;

interface TopicRoute {
  path: string;
  topic: string;
  /** Ignore an event older than the newest stored for the shop and topic. */
  staleCheck: boolean;
  /** The payload field that names the shop, checked against X-Shopify-Shop-Domain when present. */
  shopField?: string;
  handle: (c: Container, shop: string, payload: Record<string, unknown>, request: FastifyRequest) => Promise<void>;
}

const ROUTES: TopicRoute[] = [
  {
    path: '/webhooks/uninstall',
    topic: 'app/uninstalled',
    staleCheck: true,
    shopField: 'myshopify_domain',
    handle: async (c, shop, _payload, request) => {
      const { cancelled } = await c.shopify!.lifecycle.uninstall(shop);
      request.log.info({ cancelled }, 'shop uninstalled');
    },
  },
  {
    path: '/webhooks/app_purchases_one_time_update',
    topic: 'app_purchases_one_time/update',
    // Events of different purchases share the topic; the purchase's own status is what counts.
    staleCheck: false,
    handle: async (c, shop, payload) => {
      await c.onPurchaseUpdate(shop, payload);
    },
  },
  {
    path: '/webhooks/app_scopes_update',
    topic: 'app/scopes_update',
    staleCheck: true,
    handle: async (c, shop, payload) => {
      const current = payload.current;
      if (!Array.isArray(current) || !current.every((s) => typeof s === 'string')) {
        throw new InvalidInputError('current must be a list of scopes', 'INVALID_PAYLOAD');
      }
      await c.shopify!.lifecycle.updateScopes(shop, current as string[]);
    },
  },
  {
    path: '/webhooks/customers/data_request',
    topic: 'customers/data_request',
    staleCheck: false,
    shopField: 'shop_domain',
    handle: async (_c, _shop, _payload, request) => {
      request.log.info('customers/data_request: this app stores no customer data');
    },
  },
  {
    path: '/webhooks/customers/redact',
    topic: 'customers/redact',
    staleCheck: false,
    shopField: 'shop_domain',
    handle: async (_c, _shop, _payload, request) => {
      request.log.info('customers/redact: this app stores no customer data');
    },
  },
  {
    path: '/webhooks/shop/redact',
    topic: 'shop/redact',
    staleCheck: false,
    shopField: 'shop_domain',
    handle: async (c, shop, _payload, request) => {
      const result = await c.shopify!.lifecycle.redact(shop);
      request.log.info(result, 'shop data redacted');
    },
  },
];

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return typeof v === 'string' ? v : undefined;
};

const WEBHOOK_ID_RE = /^[A-Za-z0-9._:-]{1,255}$/;

export const webhookRoutes =
  (c: Container): FastifyPluginAsyncTypebox =>
  async (app) => {
    // Raw bytes for every content type in this plugin only: the HMAC is over them.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_BODY }, (_req, body, done) => done(null, body));

    for (const route of ROUTES) {
      app.post(
        route.path,
        {
          schema: {
            tags: ['webhooks'],
            summary: `Shopify webhook ${route.topic}`,
            description:
              'Raw JSON body signed by Shopify (X-Shopify-Hmac-Sha256, base64 HMAC-SHA256 with the app secret). ' +
              'Bad or missing HMAC: 401. A repeated X-Shopify-Webhook-Id answers 200 and does nothing.',
            response: responses({
              200: Type.Object({ received: Type.Boolean(), duplicate: Type.Optional(Type.Boolean()), stale: Type.Optional(Type.Boolean()) }),
            }),
          },
        },
        async (request) => {
          const shopify = c.shopify;
          const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
          if (!shopify || !verifyWebhookHmac(raw, header(request, 'x-shopify-hmac-sha256'), shopify.app.apiSecret)) {
            throw new DomainError('unauthenticated', 'Invalid webhook signature', 'INVALID_HMAC');
          }
          let payload: unknown;
          try {
            payload = JSON.parse(raw.toString('utf8'));
          } catch {
            throw new InvalidInputError('Malformed JSON body', 'INVALID_JSON');
          }
          if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
            throw new InvalidInputError('The body must be a JSON object', 'INVALID_PAYLOAD');
          }
          const body = payload as Record<string, unknown>;

          const shop = normalizeShopDomain(header(request, 'x-shopify-shop-domain'));
          if (!shop) throw new InvalidInputError('Missing or invalid X-Shopify-Shop-Domain', 'INVALID_SHOP');
          const webhookId = header(request, 'x-shopify-webhook-id');
          if (!webhookId || !WEBHOOK_ID_RE.test(webhookId)) {
            throw new InvalidInputError('Missing or invalid X-Shopify-Webhook-Id', 'INVALID_WEBHOOK_ID');
          }
          const topic = header(request, 'x-shopify-topic');
          if (topic !== undefined && topic !== route.topic) {
            throw new InvalidInputError(`X-Shopify-Topic must be ${route.topic}`, 'INVALID_TOPIC');
          }
          if (route.shopField && body[route.shopField] !== undefined && normalizeShopDomain(body[route.shopField]) !== shop) {
            throw new InvalidInputError('The payload names another shop', 'INVALID_PAYLOAD');
          }
          const triggeredText = header(request, 'x-shopify-triggered-at');
          const triggered = triggeredText ? new Date(triggeredText) : null;
          const eventId = header(request, 'x-shopify-event-id');

          const receipt = await recordWebhookEvent(
            c.db,
            {
              webhookId,
              shop,
              topic: route.topic,
              eventId: eventId && eventId.length <= 255 ? eventId : null,
              triggeredAt: triggered && !Number.isNaN(triggered.getTime()) ? triggered : null,
            },
            { staleCheck: route.staleCheck },
          );
          if (receipt === 'duplicate') return { received: true, duplicate: true };
          if (receipt === 'stale') {
            request.log.info({ topic: route.topic }, 'stale webhook ignored');
            return { received: true, stale: true };
          }
          try {
            await route.handle(c, shop, body, request);
          } catch (err) {
            // Not done: forget the delivery so Shopify's retry is processed.
            await forgetWebhookEvent(c.db, webhookId).catch(() => {});
            throw err;
          }
          return { received: true };
        },
      );
    }
  };
