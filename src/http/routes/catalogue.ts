import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Container } from '../../container.js';
import { OPERATIONS } from '../../adapters/db/schema.js';
import { MEDIA_STATES } from '../../modules/catalogue/state.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { shopOf } from '../plugins/auth.js';
import { FinishingOptionsSchema, responses, StrictObject } from '../schemas.js';
import { AUTHENTICATED } from '../security-schemes.js';

/** The merchant's catalogue (docs/api.md, Catalogue; docs/catalogue.md). */

const MEDIA_ID = { pattern: '^gid://shopify/MediaImage/[0-9]{1,20}$', maxLength: 60, description: 'A media GID (URL-encoded in paths)' };
const GID = (kind: string) => Type.String({ pattern: `^gid://shopify/${kind}/[0-9]{1,20}$`, maxLength: 60 });

/** Inline (without its $id), so this plugin does not depend on who registers the shared schema. */
const Finishing = Type.Object(FinishingOptionsSchema.properties, { additionalProperties: false, description: FinishingOptionsSchema.description });
const Operation = Type.Union(OPERATIONS.map((o) => Type.Literal(o)));
const ApplyMode = Type.Union([Type.Literal('replace'), Type.Literal('add'), Type.Literal('none')]);
const MediaState = Type.Union(MEDIA_STATES.map((s) => Type.Literal(s)));

const MediaSchema = Type.Object(
  {
    id: Type.String(),
    url: Type.String(),
    alt: Type.Union([Type.String(), Type.Null()]),
    width: Type.Union([Type.Integer(), Type.Null()]),
    height: Type.Union([Type.Integer(), Type.Null()]),
    state: MediaState,
    image_id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  },
  { $id: 'ProductMedia' },
);

const ProductSchema = Type.Object(
  { id: Type.String(), title: Type.String(), status: Type.String(), media: Type.Array(Type.Ref(MediaSchema)) },
  { $id: 'Product' },
);

const BatchScope = Type.Union([
  StrictObject({ product_ids: Type.Array(GID('Product'), { minItems: 1, maxItems: 250 }) }),
  StrictObject({ collection_id: GID('Collection') }),
  StrictObject({ all: Type.Literal(true) }),
]);

const BatchSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    status: Type.Union([Type.Literal('running'), Type.Literal('paused'), Type.Literal('cancelled'), Type.Literal('done')]),
    scope: Type.Unknown({ description: '{product_ids} | {collection_id} | {all: true}' }),
    operation: Operation,
    options: Type.Union([Finishing, Type.Null()]),
    apply: ApplyMode,
    counts: Type.Object({
      total: Type.Integer(),
      queued: Type.Integer(),
      processing: Type.Integer(),
      processed: Type.Integer({ description: 'processed, not applied (waiting for review when apply is none)' }),
      applied: Type.Integer(),
      failed: Type.Integer(),
      refunded: Type.Integer(),
    }),
    stop_reason: Type.Union([Type.String(), Type.Null()], { description: 'Why a paused batch stopped, e.g. INSUFFICIENT_CREDITS' }),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'Batch' },
);

const mediaParams = Type.Object({ media_id: Type.String(MEDIA_ID) });
const batchParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const catalogueRoutes =
  (c: Container): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.addSchema(MediaSchema);
    app.addSchema(ProductSchema);
    app.addSchema(BatchSchema);
    const common = { tags: ['catalogue'], security: AUTHENTICATED };

    app.get(
      '/products',
      {
        preHandler: app.requireShop,
        schema: {
          ...common,
          summary: "The shop's products with their image media and our state per media",
          querystring: Type.Object({
            query: Type.Optional(Type.String({ maxLength: 500, description: "Shopify's search syntax" })),
            collection_id: Type.Optional(GID('Collection')),
            cursor: Type.Optional(Type.String({ maxLength: 500 })),
            limit: Type.Integer({ minimum: 1, maximum: 50, default: 20 }),
          }),
          response: responses({ 200: Type.Object({ products: Type.Array(Type.Ref(ProductSchema)), next_cursor: Type.Union([Type.String(), Type.Null()]) }) }),
        },
      },
      async (request) => {
        const { query, collection_id, cursor, limit } = request.query;
        return c.catalogue.listProducts(shopOf(request), {
          limit,
          ...(query ? { query } : {}),
          ...(collection_id ? { collectionId: collection_id } : {}),
          ...(cursor ? { cursor } : {}),
        });
      },
    );

    app.post(
      '/products/media/process',
      {
        preHandler: app.requireShop,
        schema: {
          ...common,
          summary: 'Process product media (1 credit each, all or nothing)',
          description: 'A balance that does not cover every media: 402 and nothing queued. A media already queued or processing: 409 MEDIA_BUSY.',
          body: StrictObject({
            media_ids: Type.Array(Type.String(MEDIA_ID), { minItems: 1, maxItems: 250 }),
            operation: Operation,
            options: Type.Optional(Finishing),
            apply: ApplyMode,
          }),
          response: responses({
            202: Type.Object({
              images: Type.Array(Type.Object({ id: Type.String({ format: 'uuid' }), media_id: Type.String(), status: Type.Literal('queued') })),
              remaining_credits: Type.Integer(),
            }),
          }),
        },
      },
      async (request, reply) => {
        const { media_ids, operation, options, apply } = request.body;
        const answer = await c.catalogue.process(shopOf(request), {
          mediaIds: media_ids,
          operation,
          apply,
          ...(options ? { options: options as Record<string, unknown> } : {}),
        });
        return reply.status(202).send(answer);
      },
    );

    app.post(
      '/products/media/:media_id/apply',
      {
        preHandler: app.requireShop,
        schema: {
          ...common,
          summary: 'Apply a reviewed result to the product (replace the image, or add it beside)',
          params: mediaParams,
          body: StrictObject({ image_id: Type.String({ format: 'uuid' }), mode: Type.Union([Type.Literal('replace'), Type.Literal('add')]) }),
          response: responses({ 200: Type.Object({ media: Type.Ref(MediaSchema) }) }),
        },
      },
      async (request) => {
        const shop = shopOf(request);
        await c.catalogue.requireScopes(shop);
        return { media: await c.catalogue.apply(shop, request.params.media_id, request.body.image_id, request.body.mode) };
      },
    );

    app.post(
      '/products/media/:media_id/restore',
      {
        preHandler: app.requireShop,
        schema: {
          ...common,
          summary: 'Put the original back: byte-identical, same position, alt text kept',
          description: '409 NOTHING_TO_RESTORE when no applied result is there to undo; 409 ORIGINAL_EXPIRED past the retention.',
          params: mediaParams,
          body: Type.Optional(StrictObject({})),
          response: responses({ 200: Type.Object({ media: Type.Ref(MediaSchema) }) }),
        },
      },
      async (request) => ({ media: await c.catalogue.restore(shopOf(request), request.params.media_id) }),
    );

    app.get(
      '/products/media/:media_id/history',
      {
        preHandler: app.requireShop,
        schema: {
          ...common,
          summary: "A media's runs, newest first",
          params: mediaParams,
          response: responses({
            200: Type.Object({
              history: Type.Array(
                Type.Object({
                  image_id: Type.String({ format: 'uuid' }),
                  operation: Type.String(),
                  state: MediaState,
                  apply: ApplyMode,
                  created_at: Type.String({ format: 'date-time' }),
                  applied_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
                  restored_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
                }),
              ),
            }),
          }),
        },
      },
      async (request) => c.catalogue.history(shopOf(request), request.params.media_id),
    );

    app.post(
      '/batches',
      {
        preHandler: app.requireShop,
        schema: {
          ...common,
          summary: 'Start a batch over chosen products, a collection or the whole catalogue',
          description: 'Walks the catalogue page by page, debiting one credit per media as it enqueues; pauses with INSUFFICIENT_CREDITS.',
          body: StrictObject({ scope: BatchScope, operation: Operation, options: Type.Optional(Finishing), apply: ApplyMode }),
          response: responses({ 202: Type.Object({ batch: Type.Ref(BatchSchema) }) }),
        },
      },
      async (request, reply) => {
        const { scope, operation, options, apply } = request.body;
        const batch = await c.batches.start(shopOf(request), {
          scope,
          operation,
          apply,
          ...(options ? { options: options as Record<string, unknown> } : {}),
        });
        return reply.status(202).send({ batch });
      },
    );

    app.get(
      '/batches',
      {
        preHandler: app.requireShop,
        schema: {
          ...common,
          summary: "The shop's batches, newest first",
          querystring: Type.Object({
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
          }),
          response: responses({ 200: Type.Object({ batches: Type.Array(Type.Ref(BatchSchema)), next_cursor: Type.Union([Type.String(), Type.Null()]) }) }),
        },
      },
      async (request) => {
        const { limit, cursor } = request.query;
        const page = await c.batches.list(shopOf(request), { limit, ...(cursor ? { after: decodeCursor(cursor) } : {}) });
        return { batches: page.batches, next_cursor: page.next ? encodeCursor(page.next) : null };
      },
    );

    app.get(
      '/batches/:id',
      {
        preHandler: app.requireShop,
        schema: { ...common, summary: 'One batch with its counts', params: batchParams, response: responses({ 200: Type.Object({ batch: Type.Ref(BatchSchema) }) }) },
      },
      async (request) => ({ batch: await c.batches.get(shopOf(request), request.params.id) }),
    );

    app.post(
      '/batches/:id/cancel',
      {
        preHandler: app.requireShop,
        schema: {
          ...common,
          summary: 'Stop a batch; its queued images are refunded',
          params: batchParams,
          body: Type.Optional(StrictObject({})),
          response: responses({ 200: Type.Object({ batch: Type.Ref(BatchSchema) }) }),
        },
      },
      async (request) => ({ batch: await c.batches.cancel(shopOf(request), request.params.id) }),
    );

    app.post(
      '/batches/:id/resume',
      {
        preHandler: app.requireShop,
        schema: {
          ...common,
          summary: 'Walk on with a paused batch (after buying credits)',
          params: batchParams,
          body: Type.Optional(StrictObject({})),
          response: responses({ 200: Type.Object({ batch: Type.Ref(BatchSchema) }) }),
        },
      },
      async (request) => ({ batch: await c.batches.resume(shopOf(request), request.params.id) }),
    );
  };
