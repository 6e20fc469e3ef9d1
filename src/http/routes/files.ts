import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Container } from '../../container.js';
import { contentTypeFor } from '../../adapters/storage/content-type.js';
import { isLocalStorage } from '../../adapters/storage/local.js';
import { MAX_SIGNED_URL_S } from '../../adapters/storage/storage.js';
import { NotFoundError } from '../../lib/errors.js';
import { keyBelongsToShop } from '../../lib/storage-key.js';
import { shopOf } from '../plugins/auth.js';
import { responses } from '../schemas.js';
import { sendStream } from '../send-stream.js';
import { AUTHENTICATED } from '../security-schemes.js';

/** compat: signed URLs handed to the dashboard are valid 7 days. */
export const SIGNED_URL_TTL_S = MAX_SIGNED_URL_S;

const SIGNED_URL_PREFIX = '/fileserve/signed-url/';
const FILES_PREFIX = '/files/';

/**
 * The raw (still percent-encoded) path after `prefix`, taken from the request
 * line itself, so that it is decoded exactly once (by decodeOnce), whatever
 * the router did.
 */
export function rawPathAfter(url: string, prefix: string): string | null {
  const q = url.indexOf('?');
  const pathname = q === -1 ? url : url.slice(0, q);
  return pathname.startsWith(prefix) ? pathname.slice(prefix.length) : null;
}

/** Percent-decodes once; null for malformed encoding. */
export function decodeOnce(raw: string): string | null {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/**
 * The storage key of a request for `shop`: safe (no absolute path, `..`, `.`,
 * empty segment, backslash, NUL or control character) and under `{shop}/` or
 * `avatars/{shop}/`. Anything else is the same 404 as a missing file.
 */
function shopKey(key: string | null | undefined, shop: string): string {
  if (typeof key !== 'string' || !keyBelongsToShop(key, shop)) throw new NotFoundError();
  return key;
}

/** A filename for Content-Disposition: ASCII fallback plus the RFC 5987 UTF-8 form. */
export function contentDisposition(key: string): string {
  const base = key.slice(key.lastIndexOf('/') + 1);
  const ascii =
    base
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .replace(/^\.+/, '')
      .slice(-128) || 'download';
  const utf8 = encodeURIComponent(base).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}

/**
 * Served files never run as a page of our origin: the security plugin's
 * frame-ancestors (set in its onSend, which runs before this route hook) is
 * kept, and `default-src 'none'; sandbox` is added.
 */
async function sandboxFile(_request: FastifyRequest, reply: FastifyReply) {
  const current = reply.getHeader('content-security-policy');
  const base = typeof current === 'string' && current ? `${current}; ` : '';
  void reply.header('content-security-policy', `${base}default-src 'none'; sandbox`);
}

const FileAnswer = Type.String({ format: 'binary', description: 'The file bytes' });

async function sendFile(
  c: Container,
  reply: FastifyReply,
  key: string,
  extraHeaders: Record<string, string>,
): Promise<FastifyReply> {
  const file = await c.storage.get(key);
  void reply
    .header('content-type', contentTypeFor(key))
    .header('x-content-type-options', 'nosniff')
    .headers(extraHeaders);
  if (file.size !== undefined) void reply.header('content-length', file.size);
  return sendStream(reply, file.body);
}

export const fileRoutes =
  (c: Container): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      `${SIGNED_URL_PREFIX}*`,
      {
        preHandler: app.requireShop,
        schema: {
          tags: ['files'],
          summary: "A signed URL (valid 7 days) for one of the shop's files",
          description:
            'The path is decoded once; absolute paths, `..`, backslashes, NUL and paths outside `{shop}/` or ' +
            '`avatars/{shop}/` answer 404, the same as a missing file.',
          security: AUTHENTICATED,
          params: Type.Object({ '*': Type.String({ description: 'The storage path, e.g. {shop}/upload/{id}.png' }) }),
          response: responses({ 200: Type.Object({ signed_url: Type.String() }) }),
        },
      },
      async (request) => {
        const raw = rawPathAfter(request.url, SIGNED_URL_PREFIX);
        const key = shopKey(raw === null ? null : decodeOnce(raw), shopOf(request));
        if (!(await c.storage.exists(key))) throw new NotFoundError();
        return { signed_url: await c.storage.signedUrl(key, SIGNED_URL_TTL_S) };
      },
    );

    app.get(
      '/fileserve/download',
      {
        preHandler: app.requireShop,
        onSend: sandboxFile,
        schema: {
          tags: ['files'],
          summary: "Downloads one of the shop's files (Content-Disposition: attachment)",
          description: 'Same path rules and authorisation as /fileserve/signed-url.',
          security: AUTHENTICATED,
          querystring: Type.Object({
            path: Type.String({ minLength: 1, maxLength: 2048, description: 'The storage path' }),
          }),
          response: responses({ 200: FileAnswer }),
        },
      },
      async (request, reply) => {
        // The query string was decoded once by the parser; it is not decoded again.
        const key = shopKey(request.query.path, shopOf(request));
        return sendFile(c, reply, key, {
          'content-disposition': contentDisposition(key),
          'cache-control': 'private, no-store',
        });
      },
    );

    app.get(
      `${FILES_PREFIX}*`,
      {
        onSend: sandboxFile,
        schema: {
          tags: ['files'],
          summary: 'Serves a file of the local storage for a valid, unexpired signature',
          description:
            'Local storage only (404 otherwise). A bad, expired or foreign signature answers 404, the same as a ' +
            'missing file.',
          params: Type.Object({ '*': Type.String() }),
          querystring: Type.Object({
            exp: Type.String({ maxLength: 32, description: 'Expiry, Unix seconds' }),
            sig: Type.String({ maxLength: 128, description: 'base64url HMAC-SHA256 of the expiry and the path' }),
          }),
          response: responses({ 200: FileAnswer }),
        },
      },
      async (request, reply) => {
        const storage = c.storage;
        if (!isLocalStorage(storage)) throw new NotFoundError();
        const raw = rawPathAfter(request.url, FILES_PREFIX);
        const key = raw === null ? null : decodeOnce(raw);
        if (key === null || !storage.verifySignature(key, request.query.exp, request.query.sig)) {
          throw new NotFoundError();
        }
        // The signature covers the exact key; the storage still refuses an unsafe one.
        return sendFile(c, reply, key, { 'cache-control': 'private, max-age=3600' });
      },
    );
  };
