import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { Container } from '../../container.js';
import { SHOP_CLOSED } from '../../adapters/events/image-events.js';
import { DomainError, InvalidInputError } from '../../lib/errors.js';
import { normalizeShopDomain } from '../../lib/shop-domain.js';
import { forgetWebhookEvent, recordWebhookEvent } from '../../modules/shops/webhook-events.js';
import { refuseContentLengthOver } from '../multipart.js';
import { responses } from '../schemas.js';

/**
 * Shopify webhooks. The body is kept raw (a content-type parser scoped to this
 * plugin) and validated by the official library (HMAC and Shopify's headers)
 * before anything is parsed; then the delivery is recorded, deduplicated by
 * X-Shopify-Event-Id (one event delivered to several subscriptions, or
 * retried) with the webhook id as a fallback, and handled. A lifecycle event
 * triggered before the shop's current install is ignored (`stale`). The work
 * is a few database statements, far inside Shopify's 5 s.
 */

/** Lifecycle, purchase and GDPR payloads are a few KB: a small limit bounds what an unsigned body can cost. */
export const MAX_WEBHOOK_BODY = 256 * 1024;

interface TopicRoute {
  path: string;
  topic: string;
  /** Ignore an event older than the newest stored for the shop and topic. */
  staleCheck: boolean;
  /** The payload field that names the shop, checked against X-Shopify-Shop-Domain when present. */
  shopField?: string;
  /** Handles the event; `stale` when it belongs to an earlier install of the shop. */
  handle: (c: Container, shop: string, payload: Record<string, unknown>, request: FastifyRequest, event: { triggeredAt: Date | null }) => Promise<void | { stale: boolean }>;
}

const ROUTES: TopicRoute[] = [
  {
    path: '/webhooks/uninstall',
    topic: 'app/uninstalled',
    staleCheck: true,
    shopField: 'myshopify_domain',
    handle: async (c, shop, _payload, request, event) => {
      const result = await c.shopify!.lifecycle.uninstall(shop, event);
      if (!result.stale) {
        request.log.info({ cancelled: result.cancelled }, 'shop uninstalled');
        // Its event streams end on every API process (they outlived the install).
        await c.events.publish(shop, SHOP_CLOSED).catch((err: unknown) => request.log.warn({ err }, 'could not close the shop streams'));
      }
      return result;
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
    handle: async (c, shop, payload, _request, event) => {
      const current = payload.current;
      if (!Array.isArray(current) || !current.every((s) => typeof s === 'string')) {
        throw new InvalidInputError('current must be a list of scopes', 'INVALID_PAYLOAD');
      }
      return c.shopify!.lifecycle.updateScopes(shop, current as string[], event);
    },
  },
  ...(['products/create', 'products/update'] as const).map(
    (topic): TopicRoute => ({
      path: `/webhooks/${topic}`,
      topic,
      // Each media is taken once whatever the order: the dedupe is by media id.
      staleCheck: false,
      handle: async (c, shop, payload, request) => {
        const result = await c.automation.onProductEvent(shop, payload);
        if (result.queued || result.paused) request.log.info(result, 'automation');
      },
    }),
  ),
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
    handle: async (c, shop, _payload, request, event) => {
      const result = await c.shopify!.lifecycle.redact(shop, event);
      if (!result.stale) request.log.info({ images: result.images, files: result.files }, 'shop data redacted');
      return result;
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
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_WEBHOOK_BODY }, (_req, body, done) => done(null, body));

    for (const route of ROUTES) {
      app.post(
        route.path,
        {
          // A declared length over the limit is refused before a byte is buffered (a chunked body is capped while read).
          onRequest: refuseContentLengthOver(MAX_WEBHOOK_BODY, `Webhook bodies are limited to ${MAX_WEBHOOK_BODY} bytes`),
          schema: {
            tags: ['webhooks'],
            summary: `Shopify webhook ${route.topic}`,
            description:
              'Raw JSON body signed by Shopify (X-Shopify-Hmac-Sha256, base64 HMAC-SHA256 with the app secret). ' +
              'Bad or missing HMAC: 401. A repeated X-Shopify-Event-Id (or X-Shopify-Webhook-Id) answers 200 and does nothing; ' +
              'so does a lifecycle event triggered before the current install (`stale`).',
            response: responses({
              200: Type.Object({ received: Type.Boolean(), duplicate: Type.Optional(Type.Boolean()), stale: Type.Optional(Type.Boolean()) }),
            }),
          },
        },
        async (request) => {
          const shopify = c.shopify;
          const raw = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '';
          const validation = shopify ? await shopify.auth.validateWebhook(raw, request.raw) : null;
          const refused = validation && !validation.valid ? validation.reason : null;
          if (refused === 'missing_body') throw new InvalidInputError('Empty body', 'INVALID_JSON');
          // missing_headers: the HMAC is valid; the header checks below name what is missing.
          if (!validation || (refused && refused !== 'missing_headers')) {
            throw new DomainError('unauthenticated', 'Invalid webhook signature', 'INVALID_HMAC');
          }
          let payload: unknown;
          try {
            payload = JSON.parse(raw);
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
          if (topic !== route.topic) {
            throw new InvalidInputError(`X-Shopify-Topic must be ${route.topic}`, 'INVALID_TOPIC');
          }
          if (!header(request, 'x-shopify-api-version')) {
            throw new InvalidInputError('Missing X-Shopify-API-Version', 'INVALID_API_VERSION');
          }
          if (route.shopField && body[route.shopField] !== undefined && normalizeShopDomain(body[route.shopField]) !== shop) {
            throw new InvalidInputError('The payload names another shop', 'INVALID_PAYLOAD');
          }
          const triggeredText = header(request, 'x-shopify-triggered-at');
          const triggered = triggeredText ? new Date(triggeredText) : null;
          const triggeredAt = triggered && !Number.isNaN(triggered.getTime()) ? triggered : null;
          const eventId = header(request, 'x-shopify-event-id');

          const receipt = await recordWebhookEvent(
            c.db,
            { webhookId, shop, topic: route.topic, eventId: eventId && WEBHOOK_ID_RE.test(eventId) ? eventId : null, triggeredAt },
            { staleCheck: route.staleCheck },
          );
          if (receipt === 'duplicate') return { received: true, duplicate: true };
          if (receipt === 'stale') {
            request.log.info({ topic: route.topic }, 'stale webhook ignored');
            return { received: true, stale: true };
          }
          let outcome: void | { stale: boolean };
          try {
            outcome = await route.handle(c, shop, body, request, { triggeredAt });
          } catch (err) {
            // Not done: forget the delivery so Shopify's retry is processed.
            await forgetWebhookEvent(c.db, webhookId).catch(() => {});
            throw err;
          }
          if (outcome?.stale) {
            request.log.info({ topic: route.topic }, 'webhook triggered before the current install ignored');
            return { received: true, stale: true };
          }
          return { received: true };
        },
      );
    }
  };
