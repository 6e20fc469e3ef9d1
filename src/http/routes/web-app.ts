import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config/load.js';
import type { Container } from '../../container.js';
import { NotFoundError, UnavailableError } from '../../lib/errors.js';
import { responses } from '../schemas.js';

/** Where the admin's App Bridge lives; it must be the first script of the page. */
export const APP_BRIDGE_SRC = 'https://cdn.shopify.com/shopifycloud/app-bridge.js';
const HEAD_MARKER = '<!-- app-config -->';
const IMMUTABLE = 'public, max-age=31536000, immutable';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

const escapeAttr = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The tags that tell the page its mode (docs/dashboard.md): `app-mode`,
 * `app-sandbox` and `app-max-upload-bytes` always; in Shopify mode also
 * App Bridge (first) and the API key meta tag it reads.
 */
export function headTags(config: Config): string {
  const tags = [
    `<meta name="app-mode" content="${config.shopify.mode}">`,
    `<meta name="app-sandbox" content="${config.credits.sandbox}">`,
    `<meta name="app-max-upload-bytes" content="${config.maxUploadBytes}">`,
  ];
  if (config.shopify.mode === 'shopify') {
    tags.unshift(`<script src="${APP_BRIDGE_SRC}"></script>`, `<meta name="shopify-api-key" content="${escapeAttr(config.shopify.apiKey)}">`);
  }
  return tags.join('\n    ');
}

interface Asset {
  type: string;
  identity: Buffer;
  br?: Buffer;
  gzip?: Buffer;
}

/**
 * The build, read once at start: index.html with this server's head tags, and
 * every file of assets/ with the .br/.gz variants Vite wrote beside it. Only
 * these names can be served, so no request path ever reaches the filesystem.
 */
function loadBuild(config: Config): { index: string; etag: string; assets: Map<string, Asset> } | null {
  const indexFile = path.join(config.webDistDir, 'index.html');
  if (!existsSync(indexFile)) return null;
  const html = readFileSync(indexFile, 'utf8');
  if (!html.includes(HEAD_MARKER)) throw new Error(`${indexFile} has no "${HEAD_MARKER}" marker: rebuild it (npm run build:web)`);
  const index = html.replace(HEAD_MARKER, headTags(config));

  const assets = new Map<string, Asset>();
  const dir = path.join(config.webDistDir, 'assets');
  const names = existsSync(dir) ? readdirSync(dir) : [];
  for (const name of names) {
    if (name.endsWith('.br') || name.endsWith('.gz')) continue;
    const file = path.join(dir, name);
    const variant = (ext: string) => (names.includes(name + ext) ? readFileSync(file + ext) : undefined);
    const br = variant('.br');
    const gzip = variant('.gz');
    assets.set(name, {
      type: TYPES[path.extname(name)] ?? 'application/octet-stream',
      identity: readFileSync(file),
      ...(br ? { br } : {}),
      ...(gzip ? { gzip } : {}),
    });
  }
  return { index, etag: `"${createHash('sha256').update(index).digest('base64url').slice(0, 27)}"`, assets };
}

/** The smallest encoding the client accepts (q=0 refuses one). */
function pickEncoding(accept: string | undefined, asset: Asset): 'br' | 'gzip' | null {
  const offered = new Map<string, number>();
  for (const part of (accept ?? '').toLowerCase().split(',')) {
    const [coding, ...params] = part.trim().split(';');
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find(Boolean);
    if (coding) offered.set(coding, q === undefined ? 1 : Number(q));
  }
  const ok = (coding: string) => (offered.get(coding) ?? offered.get('*') ?? 0) > 0;
  if (asset.br && ok('br')) return 'br';
  if (asset.gzip && ok('gzip')) return 'gzip';
  return null;
}

const Wildcard = Type.Object({ '*': Type.String({ maxLength: 512 }) });

/**
 * The merchant dashboard (web/, built into WEB_DIST_DIR): hashed assets cached
 * for a year, index.html revalidated every time, and every other /app path
 * answered with index.html so the client router owns it. The security plugin's
 * CSP (frame-ancestors with the shop of the query) lets the admin frame it.
 */
export const webAppRoutes =
  (c: Container): FastifyPluginAsyncTypebox =>
  async (app) => {
    const build = loadBuild(c.config);

    app.get(
      '/',
      {
        schema: {
          tags: ['dashboard'],
          summary: 'Redirects to the dashboard at /app, keeping the query (Shopify appends shop and host)',
          response: responses({ 302: Type.Null() }),
        },
      },
      async (request, reply) => {
        const q = request.url.indexOf('?');
        return reply.redirect(`/app${q === -1 ? '' : request.url.slice(q)}`, 302);
      },
    );

    app.get(
      '/app/assets/*',
      {
        schema: {
          tags: ['dashboard'],
          summary: 'A hashed asset of the dashboard (cached for a year; brotli or gzip when accepted)',
          params: Wildcard,
          produces: ['text/javascript', 'text/css', 'image/svg+xml'],
        },
      },
      async (request, reply) => {
        const asset = build?.assets.get(request.params['*']);
        if (!asset) throw new NotFoundError();
        const encoding = pickEncoding(request.headers['accept-encoding'], asset);
        void reply.type(asset.type).header('cache-control', IMMUTABLE).header('vary', 'accept-encoding');
        if (encoding) void reply.header('content-encoding', encoding);
        return reply.send(encoding === 'br' ? asset.br : encoding === 'gzip' ? asset.gzip : asset.identity);
      },
    );

    const servePage = async (request: FastifyRequest, reply: FastifyReply) => {
      if (!build) throw new UnavailableError('The dashboard is not built: run npm run build:web');
      void reply.header('cache-control', 'no-cache').header('etag', build.etag);
      if (request.headers['if-none-match'] === build.etag) return reply.status(304).send();
      return reply.type('text/html; charset=utf-8').send(build.index);
    };
    const page = {
      tags: ['dashboard'],
      summary: 'The merchant dashboard (a single-page app: every path answers index.html)',
      produces: ['text/html'],
      response: responses({ 200: Type.String({ description: 'index.html' }), 304: Type.Null() }),
    };
    app.get('/app', { schema: page }, servePage);
    app.get('/app/*', { schema: { ...page, params: Wildcard } }, servePage);
  };
