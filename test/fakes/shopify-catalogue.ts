/**
 * The catalogue part of the fake Shopify (test/fakes/shopify.ts): products,
 * image media (files), staged uploads and a fake CDN on its own listener, as
 * the Admin GraphQL operations of docs/shopify.md (Product media) see them.
 *
 * - `products(first, after, query)` (`title:x`, free words, `id:1 OR id:2`), `collection(id) { products }`,
 *   `node(id)` of a MediaImage, `files(first, query: "filename:'x'")`;
 * - `stagedUploadsCreate` -> targets on the CDN listener (`POST /staged/{token}`, multipart, stores the file part);
 * - `fileCreate` (originalSource = a staged resourceUrl), `fileUpdate` (originalSource, alt, referencesToAdd/Remove),
 *   `fileDelete`;
 * - media go UPLOADED -> PROCESSING -> READY, one step per `node` read (FAILED after `failNextMedia()`);
 * - the CDN serves every file's bytes at `/s/files/{n}/{version}.{ext}` and `/redirect?to=URL` answers a 302.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  id: string;
  shop: string;
  filename: string;
  alt: string | null;
  bytes: Buffer;
  contentType: string;
  status: 'UPLOADED' | 'PROCESSING' | 'READY' | 'FAILED';
  version: number;
  width: number | null;
  height: number | null;
  /** Overrides the URL the API answers for this file (hostile-source tests). */
  urlOverride?: string;
  failOnReady?: boolean;
}

export interface FakeProduct {
  id: string;
  shop: string;
  title: string;
  status: string;
  collections: string[];
  /** File ids in position order. */
  media: string[];
}

export interface FakeCatalogueControls {
  cdnUrl: string;
  products: Map<string, FakeProduct>;
  files: Map<string, FakeFile>;
  addProduct(
    shop: string,
    p: { title: string; images: Array<{ bytes: Buffer; contentType?: string; alt?: string; width?: number; height?: number }>; collections?: string[]; status?: string },
  ): FakeProduct;
  /** A product's media in position order. */
  productMedia(productId: string): FakeFile[];
  /** The next media that finishes processing ends FAILED. */
  failNextMedia(): void;
  /** A CDN URL that redirects to `to`. */
  redirectUrl(to: string): string;
  catalogueCalls: Record<string, number>;
}

export interface FakeCatalogue extends FakeCatalogueControls {
  /** Answers a GraphQL operation of the catalogue, or null when it is not one. */
  handle(shop: string, query: string, vars: Record<string, unknown>): { data: unknown; cost: number } | null;
  close(): Promise<void>;
}

const EXT: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif' };

/** The parts of a multipart/form-data body (enough for the staged upload form). */
function parseMultipart(body: Buffer, contentType: string): Map<string, { data: Buffer; type?: string }> {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  const out = new Map<string, { data: Buffer; type?: string }>();
  if (!boundary) return out;
  const delim = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  let pos = body.indexOf(delim);
  while (pos !== -1) {
    const start = pos + delim.length + 2; // CRLF
    const next = body.indexOf(delim, start);
    if (next === -1) break;
    const part = body.subarray(start, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd !== -1) {
      const headers = part.subarray(0, headerEnd).toString('utf8');
      const name = /name="([^"]+)"/.exec(headers)?.[1];
      const type = /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1];
      if (name) out.set(name, { data: Buffer.from(part.subarray(headerEnd + 4)), ...(type ? { type } : {}) });
    }
    pos = next;
  }
  return out;
}

export async function startFakeCatalogue(): Promise<FakeCatalogue> {
  const products = new Map<string, FakeProduct>();
  const files = new Map<string, FakeFile>();
  const staged = new Map<string, { shop: string; bytes?: Buffer; contentType: string }>();
  let seq = 1000;
  let failNext = false;
  const catalogueCalls: Record<string, number> = {};
  const count = (op: string) => (catalogueCalls[op] = (catalogueCalls[op] ?? 0) + 1);

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://cdn');
      const stagedMatch = /^\/staged\/([a-f0-9]+)$/.exec(url.pathname);
      if (req.method === 'POST' && stagedMatch) {
        const target = staged.get(stagedMatch[1]!);
        const parts = parseMultipart(Buffer.concat(chunks), String(req.headers['content-type'] ?? ''));
        const file = parts.get('file');
        if (!target || !file || parts.get('key')?.data.toString() !== stagedMatch[1]) {
          res.writeHead(400).end('bad upload');
          return;
        }
        target.bytes = file.data;
        count('upload');
        res.writeHead(201).end();
        return;
      }
      if (req.method === 'GET' && url.pathname === '/redirect') {
        res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end();
        return;
      }
      const fileMatch = /^\/s\/files\/(\d+)\/(\d+)\.\w+$/.exec(url.pathname);
      const file = fileMatch ? files.get(`gid://shopify/MediaImage/${fileMatch[1]}`) : undefined;
      if (req.method === 'GET' && file && String(file.version) === fileMatch![2]) {
        count('cdn');
        res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.bytes.length });
        res.end(file.bytes);
        return;
      }
      res.writeHead(404).end('not found');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cdnUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fileUrl = (f: FakeFile) => f.urlOverride ?? `${cdnUrl}/s/files/${f.id.split('/').pop()}/${f.version}.${EXT[f.contentType] ?? 'bin'}`;

  function mediaJson(f: FakeFile) {
    const ready = f.status === 'READY';
    return {
      __typename: 'MediaImage',
      id: f.id,
      alt: f.alt,
      status: f.status,
      mediaContentType: 'IMAGE',
      image: ready ? { url: fileUrl(f), width: f.width, height: f.height } : null,
      originalSource: { url: fileUrl(f) },
    };
  }

  function newFile(shop: string, bytes: Buffer, contentType: string, alt: string | null, filename: string, ready: boolean, size: { width?: number; height?: number } = {}): FakeFile {
    const id = `gid://shopify/MediaImage/${++seq}`;
    const file: FakeFile = {
      id,
      shop,
      filename,
      alt,
      bytes,
      contentType,
      status: ready ? 'READY' : 'UPLOADED',
      version: 1,
      width: size.width ?? null,
      height: size.height ?? null,
    };
    files.set(id, file);
    return file;
  }

  /** One processing step per read, as Shopify's asynchronous media processing looks from outside. */
  function advance(f: FakeFile) {
    if (f.status === 'UPLOADED') f.status = 'PROCESSING';
    else if (f.status === 'PROCESSING') f.status = f.failOnReady ? 'FAILED' : 'READY';
  }

  function takeStaged(shop: string, resourceUrl: unknown): { bytes: Buffer; contentType: string } | null {
    const token = typeof resourceUrl === 'string' ? /\/staged\/([a-f0-9]+)$/.exec(resourceUrl)?.[1] : undefined;
    const s = token ? staged.get(token) : undefined;
    if (!s || s.shop !== shop || !s.bytes) return null;
    return { bytes: s.bytes, contentType: s.contentType };
  }

  function matches(p: FakeProduct, query: string | null): boolean {
    if (!query) return true;
    const ids = [...query.matchAll(/id:(\d+)/g)].map((m) => `gid://shopify/Product/${m[1]}`);
    if (ids.length) return ids.includes(p.id);
    const words = query.replace(/title:/gi, '').trim().toLowerCase();
    return p.title.toLowerCase().includes(words);
  }

  function page(list: FakeProduct[], first: number, after: unknown, mediaFirst: number) {
    const start = typeof after === 'string' ? Number(Buffer.from(after, 'base64url').toString()) : 0;
    const slice = list.slice(start, start + first);
    const end = start + slice.length;
    return {
      nodes: slice.map((p) => ({
        id: p.id,
        title: p.title,
        status: p.status,
        media: { nodes: p.media.slice(0, mediaFirst).map((id) => files.get(id)!).map(mediaJson) },
      })),
      pageInfo: { hasNextPage: end < list.length, endCursor: slice.length ? Buffer.from(String(end)).toString('base64url') : null },
    };
  }

  const shopProducts = (shop: string) => [...products.values()].filter((p) => p.shop === shop);
  const mediaFirstOf = (query: string) => Number(/media\(first:\s*(\d+)/.exec(query)?.[1] ?? 10);
  /** Requested cost as Shopify estimates a connection: each node and each nested connection's nodes count. */
  const connectionCost = (first: number, mediaFirst: number) => 2 + first + Math.ceil((first * mediaFirst) / 10);

  function handle(shop: string, query: string, vars: Record<string, unknown>): { data: unknown; cost: number } | null {
    if (query.includes('stagedUploadsCreate')) {
      count('stagedUploadsCreate');
      const input = (vars.input ?? []) as Array<{ mimeType?: string; resource?: string }>;
      const targets = input.map((i) => {
        const token = randomBytes(12).toString('hex');
        staged.set(token, { shop, contentType: i.mimeType ?? 'image/png' });
        return { url: `${cdnUrl}/staged/${token}`, resourceUrl: `${cdnUrl}/staged/${token}`, parameters: [{ name: 'key', value: token }] };
      });
      const bad = input.some((i) => i.resource !== 'IMAGE');
      return {
        data: { stagedUploadsCreate: { stagedTargets: bad ? [] : targets, userErrors: bad ? [{ field: ['input'], message: 'resource must be IMAGE' }] : [] } },
        cost: 10,
      };
    }
    if (query.includes('fileCreate')) {
      count('fileCreate');
      const out: Array<{ id: string; fileStatus: string }> = [];
      const userErrors: Array<{ field: string[]; message: string }> = [];
      for (const f of (vars.files ?? []) as Array<{ originalSource?: string; alt?: string; filename?: string; contentType?: string }>) {
        const s = takeStaged(shop, f.originalSource);
        if (!s || f.contentType !== 'IMAGE') {
          userErrors.push({ field: ['files', 'originalSource'], message: 'Invalid original source' });
          continue;
        }
        const file = newFile(shop, s.bytes, s.contentType, f.alt ?? null, f.filename ?? 'file', false);
        if (failNext) {
          file.failOnReady = true;
          failNext = false;
        }
        out.push({ id: file.id, fileStatus: 'UPLOADED' });
      }
      return { data: { fileCreate: { files: out, userErrors } }, cost: 10 };
    }
    if (query.includes('fileUpdate')) {
      count('fileUpdate');
      const out: Array<{ id: string; fileStatus: string }> = [];
      const userErrors: Array<{ field: string[]; message: string }> = [];
      for (const f of (vars.files ?? []) as Array<{ id: string; originalSource?: string; alt?: string; referencesToAdd?: string[]; referencesToRemove?: string[] }>) {
        const file = files.get(f.id);
        if (!file || file.shop !== shop) {
          userErrors.push({ field: ['files', 'id'], message: 'File does not exist' });
          continue;
        }
        if (f.originalSource !== undefined) {
          const s = takeStaged(shop, f.originalSource);
          if (!s) {
            userErrors.push({ field: ['files', 'originalSource'], message: 'Invalid original source' });
            continue;
          }
          file.bytes = s.bytes;
          file.contentType = s.contentType;
          file.version++;
          file.status = 'UPLOADED';
          delete file.urlOverride;
          if (failNext) {
            file.failOnReady = true;
            failNext = false;
          }
        }
        if (f.alt !== undefined) file.alt = f.alt;
        for (const pid of f.referencesToAdd ?? []) {
          const p = products.get(pid);
          if (p && p.shop === shop && !p.media.includes(file.id)) p.media.push(file.id);
        }
        for (const pid of f.referencesToRemove ?? []) {
          const p = products.get(pid);
          if (p) p.media = p.media.filter((id) => id !== file.id);
        }
        out.push({ id: file.id, fileStatus: file.status === 'READY' ? 'READY' : 'UPLOADED' });
      }
      return { data: { fileUpdate: { files: out, userErrors } }, cost: 10 };
    }
    if (query.includes('fileDelete')) {
      count('fileDelete');
      const deleted: string[] = [];
      for (const id of (vars.fileIds ?? []) as string[]) {
        const file = files.get(id);
        if (!file || file.shop !== shop) continue;
        files.delete(id);
        for (const p of products.values()) p.media = p.media.filter((m) => m !== id);
        deleted.push(id);
      }
      return { data: { fileDelete: { deletedFileIds: deleted, userErrors: [] } }, cost: 10 };
    }
    if (/\bcollection\s*\(/.test(query)) {
      count('collection');
      const first = Number(vars.first ?? 10);
      const list = shopProducts(shop).filter((p) => p.collections.includes(String(vars.id)));
      const exists = shopProducts(shop).some((p) => p.collections.includes(String(vars.id)));
      return { data: { collection: exists ? { products: page(list, first, vars.after, mediaFirstOf(query)) } : null }, cost: connectionCost(first, mediaFirstOf(query)) };
    }
    if (/\bproducts\s*\(/.test(query)) {
      count('products');
      const first = Number(vars.first ?? 10);
      const list = shopProducts(shop).filter((p) => matches(p, (vars.query as string | null) ?? null));
      return { data: { products: page(list, first, vars.after, mediaFirstOf(query)) }, cost: connectionCost(first, mediaFirstOf(query)) };
    }
    if (/\bfiles\s*\(/.test(query)) {
      count('files');
      const name = /filename:'([^']+)'/.exec(String(vars.query ?? ''))?.[1];
      const found = [...files.values()].filter((f) => f.shop === shop && f.filename === name).slice(0, 1);
      return { data: { files: { nodes: found.map((f) => ({ id: f.id })) } }, cost: 3 };
    }
    if (/\bnode\s*\(/.test(query) && String(vars.id ?? '').startsWith('gid://shopify/MediaImage/')) {
      count('mediaNode');
      const file = files.get(String(vars.id));
      if (!file || file.shop !== shop) return { data: { node: null }, cost: 1 };
      const answer = mediaJson(file);
      advance(file);
      return { data: { node: answer }, cost: 1 };
    }
    return null;
  }

  return {
    cdnUrl,
    products,
    files,
    catalogueCalls,
    handle,
    addProduct(shop, p) {
      const id = `gid://shopify/Product/${++seq}`;
      const product: FakeProduct = { id, shop, title: p.title, status: p.status ?? 'ACTIVE', collections: p.collections ?? [], media: [] };
      for (const [i, img] of p.images.entries()) {
        const f = newFile(shop, img.bytes, img.contentType ?? 'image/jpeg', img.alt ?? null, `${p.title}-${i}.jpg`, true, img);
        product.media.push(f.id);
      }
      products.set(id, product);
      return product;
    },
    productMedia: (productId) => (products.get(productId)?.media ?? []).map((id) => files.get(id)!),
    failNextMedia() {
      failNext = true;
    },
    redirectUrl: (to) => `${cdnUrl}/redirect?to=${encodeURIComponent(to)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
