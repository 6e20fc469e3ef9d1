import fastifyMultipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Container } from '../../container.js';
import { SHOP_CLOSED } from '../../adapters/events/image-events.js';
import { InvalidInputError, NotFoundError, RateLimitedError, UnavailableError } from '../../lib/errors.js';
import { dashboardStats, getShopImage, type ImageRow, listImages } from '../../modules/images/images.js';
import { chooseOperation } from '../../modules/images/operations.js';
import { finishingFields } from '../../modules/images/finishing.js';
import { getSettings, shopFinishing } from '../../modules/shops/settings.js';
import { IMAGE_STATUSES } from '../../adapters/db/schema.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { readSingleFile, refuseBodiesOver } from '../multipart.js';
import { createStreamRegistry } from '../stream-registry.js';
import { shopOf } from '../plugins/auth.js';
import { SIGNED_URL_TTL_S } from './files.js';
import { responses, StrictObject } from '../schemas.js';
import { AUTHENTICATED } from '../security-schemes.js';

const ImageSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  status: Type.Union(IMAGE_STATUSES.map((s) => Type.Literal(s))),
  operation: Type.String(),
  filename: Type.String(),
  original_path: Type.String(),
  processed_path: Type.Union([Type.String(), Type.Null()]),
  error_message: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

export function imageJson(row: ImageRow) {
  return {
    id: row.id,
    status: row.status,
    operation: row.operation,
    filename: row.filename,
    original_path: row.originalPath,
    processed_path: row.processedPath,
    error_message: row.errorMessage,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

const HEARTBEAT_MS = 15_000;
/** The SSE `retry:` hint: reconnect soon after the server ends a stream (lifetime, shutdown). */
const RECONNECT_HINT_MS = 2000;
/** Retry-After of a refused stream. */
const STREAM_RETRY_AFTER_S = 5;
/** Gallery URLs are shown at once: an hour is plenty, and they are not the 7-day compat ones. */
const GALLERY_URL_TTL_S = 3600;

const dashboardStatus = (status: ImageRow['status']) =>
  status === 'processed' ? 'Complete' : status === 'failed' ? 'Failed' : 'Importing';

export const imageRoutes =
  (c: Container): FastifyPluginAsyncTypebox =>
  async (app) => {
    await app.register(fastifyMultipart, {
      limits: {
        fileSize: c.config.maxUploadBytes,
        files: 2, // a second file is answered with our own 400
        fields: 10,
        fieldSize: 1024,
        parts: 12,
        headerPairs: 50,
      },
    });

    app.post(
      '/upload',
      {
        onRequest: refuseBodiesOver(c.config.maxUploadBytes, `Uploads are limited to ${c.config.maxUploadBytes} bytes`),
        preHandler: app.requireShop,
        schema: {
          tags: ['images'],
          summary: 'Upload an image and queue an operation on it (1 credit)',
          description:
            'multipart/form-data with one `file` part (PNG, JPEG, WebP, GIF, AVIF, TIFF; sniffed by decoding) and an ' +
            '`operation` field: remove-bg (aliases remove-background, remove_bg), upscale or downscale. ' +
            'Optional finishing fields for remove-bg, over the shop\'s saved defaults (GET /settings `finishing`): ' +
            '`background` (`transparent` or `#RRGGBB`), `framing` (`none` or `square`), `padding` (0..40, percent), ' +
            '`shadow` (`none` or `soft`), `format` (`png`, `jpeg` with an opaque background, `webp`); a bad value: 400 INVALID_FINISHING. ' +
            'Answers 202 at once; processing happens in the queue.',
          consumes: ['multipart/form-data'],
          security: AUTHENTICATED,
          headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ maxLength: 255 })) }),
          response: responses({
            202: Type.Object({
              id: Type.String({ format: 'uuid' }),
              filename: Type.String(),
              status: Type.Literal('queued'),
              job_id: Type.String(),
              celery_job_id: Type.String({ description: 'Same as job_id, for the legacy dashboard' }),
              remaining_credits: Type.Integer(),
            }),
          }),
        },
      },
      async (request, reply) => {
        const shop = shopOf(request);
        const { file, fields } = await readSingleFile(request);
        const shopSettings = await getSettings(c.db, shop);
        const operation = chooseOperation(fields.operation, shopSettings);
        if (!operation) {
          throw new InvalidInputError('operation must be remove-bg, upscale or downscale', 'INVALID_OPERATION');
        }
        // validated for every operation, stored for remove-bg (the only one they apply to)
        const finishing = finishingFields(fields, shopFinishing(shopSettings));
        const answer = await c.uploads.accept({
          shop,
          filename: file.filename,
          data: file.data,
          operation,
          options: operation === 'remove-bg' ? finishing : null,
          ...(request.headers['idempotency-key'] ? { idempotencyKey: request.headers['idempotency-key'] } : {}),
        });
        return reply.status(202).send(answer);
      },
    );

    app.get(
      '/images/:id',
      {
        preHandler: app.requireShop,
        schema: {
          tags: ['images'],
          summary: 'One image of the shop',
          security: AUTHENTICATED,
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          response: responses({ 200: ImageSchema }),
        },
      },
      async (request) => {
        const row = await getShopImage(c.db, shopOf(request), request.params.id);
        if (!row) throw new NotFoundError('Image not found');
        return imageJson(row);
      },
    );

    app.get(
      '/images',
      {
        preHandler: app.requireShop,
        schema: {
          tags: ['images'],
          summary: "The shop's images, newest first",
          security: AUTHENTICATED,
          querystring: Type.Object({
            status: Type.Optional(Type.Union(IMAGE_STATUSES.map((s) => Type.Literal(s)))),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
            include_urls: Type.Optional(
              Type.Boolean({ description: 'Adds signed `original_url` and `processed_url` to each image (the dashboard gallery)' }),
            ),
          }),
          response: responses({
            200: Type.Object({
              images: Type.Array(
                Type.Composite([
                  ImageSchema,
                  Type.Object({
                    original_url: Type.Optional(Type.String()),
                    processed_url: Type.Optional(Type.Union([Type.String(), Type.Null()])),
                  }),
                ]),
              ),
              next_cursor: Type.Union([Type.String(), Type.Null()]),
            }),
          }),
        },
      },
      async (request) => {
        const { status, limit, cursor, include_urls } = request.query;
        const rows = await listImages(c.db, shopOf(request), {
          limit: limit + 1,
          ...(status ? { status } : {}),
          ...(cursor ? { after: decodeCursor(cursor) } : {}),
        });
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        const sign = (key: string) => c.storage.signedUrl(key, GALLERY_URL_TTL_S);
        return {
          images: include_urls
            ? await Promise.all(
                page.map(async (row) => ({
                  ...imageJson(row),
                  original_url: await sign(row.originalPath),
                  processed_url: row.processedPath ? await sign(row.processedPath) : null,
                })),
              )
            : page.map(imageJson),
          next_cursor: rows.length > limit && last ? encodeCursor(last) : null,
        };
      },
    );

    // Open event streams end when the server closes, so a graceful shutdown does not wait on them.
    const streams = createStreamRegistry({ perShop: c.config.events.maxPerShop, total: c.config.events.maxTotal });
    app.addHook('preClose', async () => streams.closeAll());

    app.get(
      '/images/events',
      {
        preHandler: app.requireShop,
        schema: {
          tags: ['images'],
          summary: 'Server-Sent Events: `image`, `media` and `batch` events of the shop',
          description:
            '`image` carries the same object as GET /images/{id}; `media` `{id, state, image_id}` for a product media; ' +
            '`batch` the object of GET /batches/{id}. A heartbeat comment every 15 s. ' +
            `The stream ends after ${c.config.events.maxLifetimeMs / 1000} s and when the shop is uninstalled: ` +
            'reconnect with fresh credentials. Too many streams: 429 (this shop) or 503 (the server), with Retry-After.',
          security: AUTHENTICATED,
          produces: ['text/event-stream'],
        },
      },
      async (request, reply) => {
        const shop = shopOf(request);
        const raw = reply.raw;
        // `end` (below) is hoisted; it runs only once the stream is open.
        const slot = streams.open(shop, () => end());
        if (slot === 'shop_full') throw new RateLimitedError(STREAM_RETRY_AFTER_S, 'Too many open event streams for this shop', 'TOO_MANY_STREAMS');
        if (slot === 'full') throw new UnavailableError('Too many event streams, retry shortly', 'BUSY', STREAM_RETRY_AFTER_S);
        const { release } = slot;
        // Headers set by earlier hooks (CORS, request id, security) go out with the stream.
        raw.writeHead(200, {
          ...(reply.getHeaders() as Record<string, string>),
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        // `retry:` tells an EventSource how soon to come back after the server ends the stream.
        raw.write(`retry: ${RECONNECT_HINT_MS}\n: connected\n\n`);
        reply.hijack();
        const send = (event: string, data: unknown) => {
          if (!raw.destroyed) raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        };
        // Ids on the feed: an image's (with its product media's event when it has one), or `batch:{id}`.
        const unsubscribe = c.events.subscribe(shop, (id) => {
          if (id === SHOP_CLOSED) return end();
          const batchId = /^batch:(.+)$/.exec(id)?.[1];
          const work = batchId
            ? c.batches.get(shop, batchId).then((batch) => send('batch', batch))
            : getShopImage(c.db, shop, id).then(async (row) => {
                if (!row) return;
                send('image', imageJson(row));
                const media = await c.catalogue.mediaEvent(shop, row.id);
                if (media) send('media', media);
              });
          void work.catch(() => {});
        });
        const heartbeat = setInterval(() => raw.write(': heartbeat\n\n'), HEARTBEAT_MS);
        // Past its lifetime the stream ends: the session token it was opened with has long expired.
        const lifetime = setTimeout(() => end(), c.config.events.maxLifetimeMs);
        function end() {
          clearInterval(heartbeat);
          clearTimeout(lifetime);
          unsubscribe();
          release();
          if (!raw.writableEnded) raw.end();
        }
        raw.on('close', end);
      },
    );

    app.post(
      '/image/dashboard-stats',
      {
        // The legacy dashboard may POST without a body.
        preValidation: async (request) => {
          if (request.body === undefined || request.body === null) request.body = {};
        },
        preHandler: app.requireShop,
        schema: {
          tags: ['images'],
          summary: 'Counts by status and the 5 newest processed images',
          security: AUTHENTICATED,
          body: StrictObject({
            // The legacy dashboard sends its whole shop state here (an object): any JSON type, ignored.
            shop: Type.Optional(Type.Unknown({ description: 'Ignored (any JSON type): the session names the shop' })),
          }),
          response: responses({
            200: Type.Object({
              stats: Type.Object({
                total: Type.Integer(),
                queued: Type.Integer(),
                processing: Type.Integer(),
                failed: Type.Integer(),
                completed: Type.Integer(),
              }),
              recent: Type.Array(
                Type.Object({
                  id: Type.String(),
                  url: Type.Union([Type.String(), Type.Null()]),
                  operation: Type.String(),
                  status: Type.Union([Type.Literal('Complete'), Type.Literal('Importing'), Type.Literal('Failed')]),
                }),
              ),
            }),
          }),
        },
      },
      async (request) => {
        const { stats, recent } = await dashboardStats(c.db, shopOf(request));
        return {
          stats,
          recent: await Promise.all(
            recent.map(async (row) => ({
              id: row.id,
              url: row.processedPath ? await c.storage.signedUrl(row.processedPath, SIGNED_URL_TTL_S) : null,
              operation: row.operation,
              status: dashboardStatus(row.status),
            })),
          ),
        };
      },
    );
  };
