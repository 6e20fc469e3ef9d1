import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake of Supabase Storage's REST API (under /storage/v1), as
 * @supabase/storage-js 2.x calls it, on a real HTTP server:
 *
 *   GET    /bucket/{id}                          bucket details (check)
 *   POST   /object/{bucket}/{path}               upload (x-upsert: true replaces)
 *   PUT    /object/{bucket}/{path}               update an existing object
 *   GET    /object/{bucket}/{path}               download (also /object/authenticated/...)
 *   HEAD   /object/{bucket}/{path}               exists
 *   DELETE /object/{bucket}   {"prefixes": [..]} remove, answers the removed objects
 *   POST   /object/sign/{bucket}/{path}          {"expiresIn"} -> {"signedURL": "/object/sign/...?token="}
 *   GET    /object/sign/{bucket}/{path}?token=   download with a signed token (no key needed)
 *
 * Every other call needs `apikey` and `Authorization: Bearer` with the service
 * role key: 401 when missing, 403 when wrong. Errors have Supabase's shape
 * `{statusCode, error, message}`; a missing object or bucket answers HTTP 400
 * with `statusCode: "404"` as Supabase Storage long did (or 404 with `missingStatus: 404`).
 */
export interface FakeSupabaseStorage {
  /** The project URL (give it to the adapter as SUPABASE_URL). */
  url: string;
  serviceRoleKey: string;
  objects: Map<string, { data: Buffer; contentType: string; cacheControl?: string }>;
  /** Every request as "METHOD /path" (no query), for assertions. */
  requests: string[];
  close(): Promise<void>;
}

const PREFIX = '/storage/v1';

export async function startFakeSupabaseStorage(
  opts: {
    serviceRoleKey?: string;
    buckets?: string[];
    /** HTTP status of "not found" answers: 400 (statusCode "404" in the body, older servers) or 404. */
    missingStatus?: 400 | 404;
  } = {},
): Promise<FakeSupabaseStorage> {
  const serviceRoleKey = opts.serviceRoleKey ?? `service-role-${randomUUID()}`;
  const buckets = new Set(opts.buckets ?? ['makeit3d-public']);
  const objects: FakeSupabaseStorage['objects'] = new Map();
  const requests: string[] = [];
  const tokenSecret = randomUUID();

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const fail = (res: ServerResponse, status: number, statusCode: string, error: string, message: string) =>
    send(res, status, { statusCode, error, message });
  const notFound = (res: ServerResponse, what = 'Object') =>
    fail(res, opts.missingStatus ?? 400, '404', 'not_found', `${what} not found`);

  const sign = (payload: string) => createHmac('sha256', tokenSecret).update(payload).digest('base64url');
  function makeToken(url: string, expiresIn: number): string {
    const payload = Buffer.from(JSON.stringify({ url, exp: Math.floor(Date.now() / 1000) + expiresIn })).toString(
      'base64url',
    );
    return `${payload}.${sign(payload)}`;
  }
  function readToken(token: string): { url: string; exp: number } | null {
    const [payload, sig] = token.split('.');
    if (!payload || !sig) return null;
    const expected = Buffer.from(sign(payload));
    const given = Buffer.from(sig);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
    try {
      return JSON.parse(Buffer.from(payload, 'base64url').toString()) as { url: string; exp: number };
    } catch {
      return null;
    }
  }

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** "{bucket}/{path...}" decoded once, segment by segment. */
  function splitObject(rest: string): { bucket: string; name: string } | null {
    const parts = rest.split('/').map((p) => decodeURIComponent(p));
    const [bucket, ...name] = parts;
    if (!bucket || name.length === 0 || name.some((p) => p === '')) return null;
    return { bucket, name: name.join('/') };
  }

  function serveObject(res: ServerResponse, id: string) {
    const obj = objects.get(id);
    if (!obj) return notFound(res);
    res.writeHead(200, {
      'content-type': obj.contentType,
      'content-length': obj.data.length,
      ...(obj.cacheControl ? { 'cache-control': obj.cacheControl } : {}),
    });
    res.end(obj.data);
  }

  function authorised(req: IncomingMessage, res: ServerResponse): boolean {
    const apikey = req.headers.apikey;
    const auth = req.headers.authorization;
    if (!apikey || !auth) {
      fail(res, 401, '401', 'Unauthorized', 'headers must have required property authorization and apikey');
      return false;
    }
    if (apikey !== serviceRoleKey || auth !== `Bearer ${serviceRoleKey}`) {
      fail(res, 403, '403', 'Unauthorized', 'invalid signature');
      return false;
    }
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    requests.push(`${method} ${url.pathname}`);
    if (!url.pathname.startsWith(`${PREFIX}/`)) return fail(res, 404, '404', 'not_found', 'Route not found');
    const route = url.pathname.slice(PREFIX.length);

    // Signed download: the token is the credential.
    const signed = /^\/object\/sign\/(.+)$/.exec(route);
    if (signed && (method === 'GET' || method === 'HEAD')) {
      const target = splitObject(signed[1]!);
      const token = readToken(url.searchParams.get('token') ?? '');
      if (!target || !token || token.url !== `${target.bucket}/${target.name}`) {
        return fail(res, 400, '400', 'InvalidJWT', 'invalid signature');
      }
      if (token.exp < Math.floor(Date.now() / 1000)) return fail(res, 400, '400', 'InvalidJWT', 'jwt expired');
      return serveObject(res, `${target.bucket}/${target.name}`);
    }

    if (!authorised(req, res)) return;

    const bucketRoute = /^\/bucket\/([^/]+)$/.exec(route);
    if (bucketRoute && method === 'GET') {
      const id = decodeURIComponent(bucketRoute[1]!);
      if (!buckets.has(id)) return notFound(res, 'Bucket');
      return send(res, 200, { id, name: id, owner: '', public: false, created_at: '', updated_at: '' });
    }

    if (signed && method === 'POST') {
      const target = splitObject(signed[1]!);
      const id = target && `${target.bucket}/${target.name}`;
      if (!id || !objects.has(id)) return notFound(res);
      const body = JSON.parse((await readBody(req)).toString() || '{}') as { expiresIn?: unknown };
      if (typeof body.expiresIn !== 'number' || body.expiresIn < 1) {
        return fail(res, 400, '400', 'InvalidRequest', 'expiresIn must be a positive number');
      }
      return send(res, 200, { signedURL: `/object/sign/${id}?token=${makeToken(id, body.expiresIn)}` });
    }

    const removeRoute = /^\/object\/([^/]+)$/.exec(route);
    if (removeRoute && method === 'DELETE') {
      const bucket = decodeURIComponent(removeRoute[1]!);
      if (!buckets.has(bucket)) return notFound(res, 'Bucket');
      const body = JSON.parse((await readBody(req)).toString() || '{}') as { prefixes?: unknown };
      if (!Array.isArray(body.prefixes)) return fail(res, 400, '400', 'InvalidRequest', 'prefixes is required');
      const removed = [];
      for (const name of body.prefixes) {
        if (typeof name === 'string' && objects.delete(`${bucket}/${name}`)) {
          removed.push({ name, bucket_id: bucket, id: randomUUID() });
        }
      }
      return send(res, 200, removed);
    }

    const objectRoute = /^\/object\/(?:authenticated\/)?(.+)$/.exec(route);
    if (objectRoute) {
      const target = splitObject(objectRoute[1]!);
      if (!target) return fail(res, 400, '400', 'InvalidKey', 'Invalid key');
      if (!buckets.has(target.bucket)) return notFound(res, 'Bucket');
      const id = `${target.bucket}/${target.name}`;
      if (method === 'GET' || method === 'HEAD') return serveObject(res, id);
      if (method === 'POST' || method === 'PUT') {
        const contentType = req.headers['content-type'] ?? 'application/octet-stream';
        if (contentType.startsWith('multipart/form-data')) {
          return fail(res, 415, '415', 'UnsupportedMediaType', 'this fake takes raw bodies only');
        }
        const exists = objects.has(id);
        if (method === 'POST' && exists && req.headers['x-upsert'] !== 'true') {
          return fail(res, 400, '409', 'Duplicate', 'The resource already exists');
        }
        if (method === 'PUT' && !exists) return notFound(res);
        const cacheControl = req.headers['cache-control'];
        objects.set(id, { data: await readBody(req), contentType, ...(cacheControl ? { cacheControl } : {}) });
        return send(res, 200, { Id: randomUUID(), Key: id });
      }
    }
    return fail(res, 404, '404', 'not_found', 'Route not found');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) fail(res, 500, '500', 'internal', 'fake failed');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    serviceRoleKey,
    objects,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
