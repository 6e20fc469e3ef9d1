import fastifyMultipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Container } from '../../container.js';
import { AVATAR_MAX_BYTES, normalizeAvatar } from '../../adapters/images/avatar.js';
import { NotFoundError } from '../../lib/errors.js';
import { FINISHING_KEYS, type Finishing, resolveFinishing } from '../../modules/images/finishing.js';
import { getSettings, shopFinishing, type ShopSettings, updateSettings } from '../../modules/shops/settings.js';
import { type AutoProcess, getAutoProcess, saveAutoProcess } from '../../modules/catalogue/automation.js';
import { readSingleFile, refuseBodiesOver } from '../multipart.js';
import { shopOf } from '../plugins/auth.js';
import { SIGNED_URL_TTL_S } from './files.js';
import { FinishingOptionsSchema, responses, StrictObject } from '../schemas.js';
import { AUTHENTICATED } from '../security-schemes.js';


const SettingsSchema = Type.Object({
  shop: Type.String(),
  background_removal: Type.Boolean({ description: 'An upload that names no operation removes the background' }),
  optimize_images: Type.Boolean({ description: 'Results get maximum PNG compression; an upload without operation is downscaled' }),
  avatar_path: Type.Union([Type.String(), Type.Null()], { description: 'A signed URL of the avatar, or null' }),
  updated_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  auto_process: Type.Object(
    {
      enabled: Type.Boolean(),
      operation: Type.String(),
      options: Type.Record(Type.String(), Type.Unknown()),
      apply: Type.Union([Type.Literal('replace'), Type.Literal('add'), Type.Literal('none')]),
      daily_cap: Type.Integer(),
      paused_reason: Type.Union([Type.String(), Type.Null()], { description: 'INSUFFICIENT_CREDITS or DAILY_CAP while paused' }),
      paused_at: Type.Union([Type.String(), Type.Null()]),
    },
    { description: 'New product media processed automatically (products/create and products/update webhooks)' },
  ),
  finishing: Type.Required(Type.Object(FinishingOptionsSchema.properties), {
    description: 'Finishing defaults of remove-bg uploads (docs/api.md, Finishing options), complete',
  }),
});
const AutoProcessBody = StrictObject({
  enabled: Type.Optional(Type.Boolean()),
  operation: Type.Optional(Type.Union([Type.Literal('remove-bg'), Type.Literal('upscale'), Type.Literal('downscale')])),
  options: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  apply: Type.Optional(Type.Union([Type.Literal('replace'), Type.Literal('add'), Type.Literal('none')])),
  daily_cap: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  // Read-only: a client that sends back what GET answered is not refused; the server sets these.
  paused_reason: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()], { description: 'Read-only, ignored' })),
  paused_at: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()], { description: 'Read-only, ignored' })),
});
const UrlAnswer = Type.Object({ url: Type.String() });

export const settingsRoutes =
  (c: Container): FastifyPluginAsyncTypebox =>
  async (app) => {
    await app.register(fastifyMultipart, {
      limits: { fileSize: AVATAR_MAX_BYTES, files: 2, fields: 5, fieldSize: 1024, parts: 8, headerPairs: 50 },
    });

    async function settingsJson(shop: string, s: ShopSettings) {
      return {
        shop,
        background_removal: s.backgroundRemoval,
        optimize_images: s.optimizeImages,
        avatar_path: s.avatarPath ? await c.storage.signedUrl(s.avatarPath, SIGNED_URL_TTL_S) : null,
        updated_at: s.updatedAt ? s.updatedAt.toISOString() : null,
        auto_process: await getAutoProcess(c.db, shop),
        finishing: shopFinishing(s),
      };
    }

    app.get(
      '/settings',
      {
        preHandler: app.requireShop,
        schema: {
          tags: ['settings'],
          summary: "The shop's settings (defaults when none are saved)",
          security: AUTHENTICATED,
          response: responses({ 200: SettingsSchema }),
        },
      },
      async (request) => {
        const shop = shopOf(request);
        return settingsJson(shop, await getSettings(c.db, shop));
      },
    );

    app.post(
      '/settings',
      {
        preHandler: app.requireShop,
        schema: {
          tags: ['settings'],
          summary: 'Save settings; a field left out keeps its value',
          security: AUTHENTICATED,
          body: StrictObject({
            background_removal: Type.Optional(Type.Boolean()),
            optimize_images: Type.Optional(Type.Boolean()),
            auto_process: Type.Optional(AutoProcessBody),
            // The legacy dashboard always echoes the avatar back; it is changed only by POST /settings/avatar.
            avatar_path: Type.Optional(
              Type.Union([Type.String({ maxLength: 4096 }), Type.Null()], { description: 'Ignored: see POST /settings/avatar' }),
            ),
            finishing: Type.Optional(
              StrictObject(FinishingOptionsSchema.properties, 'Finishing defaults to change; a field left out keeps its value'),
            ),
          }),
          response: responses({ 200: Type.Object({ success: Type.Literal(true), data: SettingsSchema }) }),
        },
      },
      async (request) => {
        const shop = shopOf(request);
        const { background_removal, optimize_images, finishing, auto_process } = request.body;
        let savedFinishing: Partial<Finishing> | undefined;
        if (finishing) {
          // merged over what is saved, then checked as a whole (jpeg needs an opaque background): 400 INVALID_FINISHING
          const current = await getSettings(c.db, shop);
          const merged = { ...current.finishing, ...finishing };
          const resolved = resolveFinishing(merged);
          savedFinishing = Object.fromEntries(FINISHING_KEYS.filter((k) => k in merged).map((k) => [k, resolved[k]]));
        }
        if (auto_process) {
          const { paused_reason: _reason, paused_at: _at, ...given } = auto_process;
          await saveAutoProcess(c.db, shop, given as Partial<AutoProcess>);
        }
        const saved = await updateSettings(c.db, shop, {
          ...(savedFinishing ? { finishing: savedFinishing } : {}),
          ...(background_removal !== undefined ? { backgroundRemoval: background_removal } : {}),
          ...(optimize_images !== undefined ? { optimizeImages: optimize_images } : {}),
        });
        return { success: true as const, data: await settingsJson(shop, saved) };
      },
    );

    app.post(
      '/settings/avatar',
      {
        onRequest: refuseBodiesOver(AVATAR_MAX_BYTES, 'Avatars are limited to 2 MB'),
        preHandler: app.requireShop,
        schema: {
          tags: ['settings'],
          summary: 'Upload the avatar: PNG, JPEG or WebP, at most 2 MB; stored as WebP within 512x512',
          consumes: ['multipart/form-data'],
          security: AUTHENTICATED,
          response: responses({ 200: UrlAnswer }),
        },
      },
      async (request) => {
        const shop = shopOf(request);
        const { file } = await readSingleFile(request);
        const webp = await c.imageWork.run(() => normalizeAvatar(file.data, c.config.maxInputPixels));
        const key = `avatars/${shop}/avatar.webp`;
        await c.storage.put(key, webp, 'image/webp');
        await updateSettings(c.db, shop, { avatarPath: key });
        return { url: await c.storage.signedUrl(key, SIGNED_URL_TTL_S) };
      },
    );

    app.get(
      '/settings/avatar/refresh',
      {
        preHandler: app.requireShop,
        schema: {
          tags: ['settings'],
          summary: 'A fresh signed URL of the avatar',
          security: AUTHENTICATED,
          response: responses({ 200: UrlAnswer }),
        },
      },
      async (request) => {
        const { avatarPath } = await getSettings(c.db, shopOf(request));
        if (!avatarPath) throw new NotFoundError('No avatar');
        return { url: await c.storage.signedUrl(avatarPath, SIGNED_URL_TTL_S) };
      },
    );
  };
