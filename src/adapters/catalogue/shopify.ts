import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { catalogueMediaIndex } from '../db/schema.js';
import { outboundFetch, OutboundRefusedError } from '../outbound/fetch.js';
import type { ShopGraphql } from '../shopify/admin-graphql.js';
import { InvalidInputError, UnavailableError } from '../../lib/errors.js';
import {
  type CatalogueMedia,
  type CataloguePort,
  type CatalogueProduct,
  type ImageBytes,
  missingFrom,
  type RestoreInput,
  type WriteResult,
} from '../../modules/catalogue/port.js';

/**
 * The store's catalogue through Admin GraphQL (docs/shopify.md, Product media).
 * Read: products (Shopify's `query` syntax) or a collection's products, with
 * their image media. Write the current way: stagedUploadsCreate, POST the
 * bytes to the staged target, then fileUpdate (a replace: the same media gets
 * the new file, keeping its id, position and references) or fileCreate +
 * fileUpdate referencesToAdd (an add); a restore is a fileUpdate with the
 * kept original (or fileDelete of an added result). A write counts once the
 * media is READY. Throttling and token refresh live in `graphql`.
 */

export interface ShopifyCatalogueOptions {
  db: Db;
  graphql: ShopGraphql;
  scopesOf(shop: string): Promise<string | null>;
  /** Where product images may be fetched from (SHOPIFY_CDN_URL, https://cdn.shopify.com). */
  cdnOrigin: string;
  maxBytes: number;
  timeoutMs: number;
  /** Media status polling: every `pollMs` until READY, at most `readyTimeoutMs`. */
  pollMs?: number;
  readyTimeoutMs?: number;
  /** Media per product in a listing. */
  mediaPerProduct?: number;
}

/** Hosts Shopify's staged upload targets live on (besides the CDN origin, which tests use for the fake). */
const STAGED_UPLOAD_ORIGINS = ['https://shopify-staged-uploads.storage.googleapis.com'];

const MEDIA_FIELDS = `id alt status mediaContentType ... on MediaImage { image { url width height } originalSource { url } }`;
const PRODUCT_FIELDS = (media: number) => `id title status media(first: ${media}) { nodes { ${MEDIA_FIELDS} } }`;

const PRODUCTS = (media: number) => `query catalogueProducts($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query, sortKey: ID) {
    nodes { ${PRODUCT_FIELDS(media)} }
    pageInfo { hasNextPage endCursor }
  }
}`;

const COLLECTION = (media: number) => `query catalogueCollection($id: ID!, $first: Int!, $after: String) {
  collection(id: $id) {
    products(first: $first, after: $after) {
      nodes { ${PRODUCT_FIELDS(media)} }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;

const MEDIA = `query catalogueMedia($id: ID!) { node(id: $id) { ${MEDIA_FIELDS} } }`;

const STAGED = `mutation catalogueStage($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}`;

const FILE_CREATE = `mutation catalogueFileCreate($files: [FileCreateInput!]!) {
  fileCreate(files: $files) { files { id fileStatus } userErrors { field message code } }
}`;

const FILE_UPDATE = `mutation catalogueFileUpdate($files: [FileUpdateInput!]!) {
  fileUpdate(files: $files) { files { id fileStatus } userErrors { field message code } }
}`;

const FILE_DELETE = `mutation catalogueFileDelete($fileIds: [ID!]!) {
  fileDelete(fileIds: $fileIds) { deletedFileIds userErrors { field message code } }
}`;

const FILE_BY_NAME = `query catalogueFileByName($query: String!) {
  files(first: 1, query: $query) { nodes { id } }
}`;

interface RawMedia {
  id: string;
  alt: string | null;
  status: string;
  mediaContentType?: string;
  image?: { url: string; width: number | null; height: number | null } | null;
  originalSource?: { url: string } | null;
}
interface RawProduct {
  id: string;
  title: string;
  status: string;
  media: { nodes: RawMedia[] };
}
interface Connection {
  nodes: RawProduct[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
interface UserError {
  field?: string[];
  message: string;
}

const EXT: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif' };

function checkUserErrors(what: string, errors: UserError[] | undefined): void {
  if (errors && errors.length) throw new InvalidInputError(`Shopify refused ${what}: ${errors.map((e) => e.message).join('; ')}`, 'SHOPIFY_REFUSED');
}

/** Shopify's search syntax for a list of products: `id:1 OR id:2`. */
function productIdsQuery(ids: string[]): string {
  const numbers = ids.map((id) => /^gid:\/\/shopify\/Product\/(\d+)$/.exec(id)?.[1]).filter((n): n is string => !!n);
  return numbers.length ? numbers.map((n) => `id:${n}`).join(' OR ') : 'id:0';
}

export function createShopifyCatalogue(opts: ShopifyCatalogueOptions): CataloguePort {
  const { db, graphql } = opts;
  const pollMs = opts.pollMs ?? 500;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const mediaPerProduct = opts.mediaPerProduct ?? 20;
  const cdn = new URL(opts.cdnOrigin);
  const uploadOrigins = new Set([...STAGED_UPLOAD_ORIGINS, cdn.origin]);

  const toMedia = (productId: string, m: RawMedia): CatalogueMedia | null =>
    m.image || m.originalSource
      ? {
          id: m.id,
          productId,
          url: m.image?.url ?? m.originalSource!.url,
          alt: m.alt ?? null,
          width: m.image?.width ?? null,
          height: m.image?.height ?? null,
          status: m.status,
        }
      : null;

  async function remember(shop: string, products: CatalogueProduct[]) {
    const rows = products.flatMap((p) => p.media.map((m) => ({ shop, mediaId: m.id, productId: p.id })));
    if (rows.length === 0) return;
    await db
      .insert(catalogueMediaIndex)
      .values(rows)
      .onConflictDoUpdate({
        target: [catalogueMediaIndex.shop, catalogueMediaIndex.mediaId],
        set: { productId: sql`excluded.product_id`, updatedAt: sql`now()` },
      });
  }

  async function productOf(shop: string, mediaId: string): Promise<string | null> {
    const rows = await db
      .select({ productId: catalogueMediaIndex.productId })
      .from(catalogueMediaIndex)
      .where(sql`${catalogueMediaIndex.shop} = ${shop} and ${catalogueMediaIndex.mediaId} = ${mediaId}`);
    return rows[0]?.productId ?? null;
  }

  async function rawMedia(shop: string, id: string): Promise<RawMedia | null> {
    const { node } = await graphql<{ node: RawMedia | null }>(shop, MEDIA, { id });
    return node && node.id === id ? node : null;
  }

  /** The image source may come only from the CDN, over https (or the configured test origin). */
  function checkSourceUrl(url: URL): void {
    if (url.origin === cdn.origin) return;
    if (url.protocol === 'https:' && url.hostname === 'cdn.shopify.com') return;
    throw new OutboundRefusedError(`${url.host} is not Shopify's CDN`);
  }

  async function stage(shop: string, bytes: ImageBytes, filename: string): Promise<string> {
    const answer = await graphql<{
      stagedUploadsCreate: { stagedTargets: Array<{ url: string; resourceUrl: string; parameters: Array<{ name: string; value: string }> }>; userErrors: UserError[] };
    }>(shop, STAGED, {
      input: [{ resource: 'IMAGE', filename, mimeType: bytes.contentType, httpMethod: 'POST', fileSize: String(bytes.data.length) }],
    });
    checkUserErrors('the staged upload', answer.stagedUploadsCreate.userErrors);
    const target = answer.stagedUploadsCreate.stagedTargets[0];
    if (!target) throw new UnavailableError('Shopify gave no staged upload target');
    const url = new URL(target.url);
    if (!uploadOrigins.has(url.origin)) throw new OutboundRefusedError(`unexpected staged upload host ${url.host}`);
    const form = new FormData();
    for (const p of target.parameters) form.append(p.name, p.value);
    form.append('file', new Blob([new Uint8Array(bytes.data)], { type: bytes.contentType }), filename);
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', body: form, redirect: 'error', signal: AbortSignal.timeout(opts.timeoutMs) });
    } catch {
      throw new UnavailableError('The staged upload failed');
    }
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new UnavailableError(`The staged upload answered ${res.status}`);
    return target.resourceUrl;
  }

  /** Polls the media until READY; FAILED (or no end in time) is an error. */
  async function awaitReady(shop: string, id: string): Promise<RawMedia> {
    const until = Date.now() + readyTimeoutMs;
    for (;;) {
      const media = await rawMedia(shop, id);
      if (!media) throw new InvalidInputError('The media disappeared while Shopify processed it', 'SHOPIFY_REFUSED');
      if (media.status === 'READY') return media;
      if (media.status === 'FAILED') throw new InvalidInputError('Shopify could not process the image', 'SHOPIFY_MEDIA_FAILED');
      if (Date.now() > until) throw new UnavailableError('Shopify is still processing the image');
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  async function fileUpdate(shop: string, input: Record<string, unknown>) {
    const answer = await graphql<{ fileUpdate: { files: Array<{ id: string }> | null; userErrors: UserError[] } }>(shop, FILE_UPDATE, { files: [input] });
    checkUserErrors('the file update', answer.fileUpdate.userErrors);
  }

  async function readyMedia(shop: string, id: string, productId: string): Promise<CatalogueMedia> {
    const media = toMedia(productId, await awaitReady(shop, id));
    if (!media) throw new UnavailableError('Shopify answered a media without an image');
    return media;
  }

  return {
    kind: 'shopify',

    async listProducts(shop, q) {
      const first = q.limit;
      let conn: Connection | null;
      if (q.collectionId) {
        const data = await graphql<{ collection: { products: Connection } | null }>(shop, COLLECTION(mediaPerProduct), {
          id: q.collectionId,
          first,
          after: q.cursor ?? null,
        });
        conn = data.collection?.products ?? null;
      } else {
        const query = q.productIds ? productIdsQuery(q.productIds) : q.query || null;
        conn = (await graphql<{ products: Connection }>(shop, PRODUCTS(mediaPerProduct), { first, after: q.cursor ?? null, query })).products;
      }
      if (!conn) return { products: [], nextCursor: null };
      const products: CatalogueProduct[] = conn.nodes.map((p) => ({
        id: p.id,
        title: p.title,
        status: p.status,
        media: p.media.nodes
          .filter((m) => !m.mediaContentType || m.mediaContentType === 'IMAGE')
          .map((m) => toMedia(p.id, m))
          .filter((m): m is CatalogueMedia => m !== null),
      }));
      await remember(shop, products);
      return { products, nextCursor: conn.pageInfo.hasNextPage ? conn.pageInfo.endCursor : null };
    },

    async getMedia(shop, mediaId) {
      if (!/^gid:\/\/shopify\/MediaImage\/\d+$/.test(mediaId)) return null;
      const productId = await productOf(shop, mediaId);
      if (!productId) return null;
      const media = await rawMedia(shop, mediaId);
      return media ? toMedia(productId, media) : null;
    },

    async downloadSource(shop, media, signal) {
      // The original file, not the CDN's transformed copy: a restore gives back these bytes.
      const raw = await rawMedia(shop, media.id);
      const source = raw?.originalSource?.url ?? raw?.image?.url ?? media.url;
      const res = await outboundFetch(source, {
        checkUrl: checkSourceUrl,
        trustedOrigins: [cdn.origin],
        maxBytes: opts.maxBytes,
        timeoutMs: opts.timeoutMs,
        ...(signal ? { signal } : {}),
      });
      if (res.status !== 200) throw new UnavailableError(`The CDN answered ${res.status}`);
      const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
      return { data: res.body, contentType: type.startsWith('image/') ? type : 'image/jpeg' };
    },

    async writeResult(shop, media, result: WriteResult) {
      const filename = `${result.key}.${EXT[result.contentType] ?? 'png'}`;
      if (result.mode === 'replace') {
        const resourceUrl = await stage(shop, result, filename);
        await fileUpdate(shop, { id: media.id, originalSource: resourceUrl, ...(result.alt !== null ? { alt: result.alt } : {}) });
        return readyMedia(shop, media.id, media.productId);
      }
      // add: a file named after the run, so a repeat finds it instead of adding a second one.
      const existing = await graphql<{ files: { nodes: Array<{ id: string }> } }>(shop, FILE_BY_NAME, { query: `filename:'${filename}'` });
      let id = existing.files.nodes[0]?.id;
      if (!id) {
        const resourceUrl = await stage(shop, result, filename);
        const created = await graphql<{ fileCreate: { files: Array<{ id: string }> | null; userErrors: UserError[] } }>(shop, FILE_CREATE, {
          files: [{ originalSource: resourceUrl, contentType: 'IMAGE', filename, ...(result.alt !== null ? { alt: result.alt } : {}) }],
        });
        checkUserErrors('the new file', created.fileCreate.userErrors);
        id = created.fileCreate.files?.[0]?.id;
        if (!id) throw new UnavailableError('Shopify created no file');
      }
      await result.onCreated?.(id);
      await awaitReady(shop, id);
      await fileUpdate(shop, { id, referencesToAdd: [media.productId] });
      await remember(shop, [{ id: media.productId, title: '', status: '', media: [{ ...media, id }] }]);
      return readyMedia(shop, id, media.productId);
    },

    async restore(shop, input: RestoreInput) {
      if (input.mode === 'add') {
        const answer = await graphql<{ fileDelete: { userErrors: UserError[] } }>(shop, FILE_DELETE, { fileIds: [input.resultMediaId] });
        checkUserErrors('the removal', answer.fileDelete.userErrors);
        return readyMedia(shop, input.media.id, input.media.productId);
      }
      const filename = `original-${input.media.id.split('/').pop()}.${EXT[input.original.contentType] ?? 'jpg'}`;
      const resourceUrl = await stage(shop, input.original, filename);
      await fileUpdate(shop, { id: input.media.id, originalSource: resourceUrl, alt: input.alt ?? '' });
      return readyMedia(shop, input.media.id, input.media.productId);
    },

    async noteMedia(shop, productId, mediaIds) {
      await remember(shop, [{ id: productId, title: '', status: '', media: mediaIds.map((id) => ({ id, productId, url: '', alt: null, width: null, height: null, status: '' })) }]);
    },

    async missingScopes(shop) {
      return missingFrom(await opts.scopesOf(shop));
    },
  };
}
