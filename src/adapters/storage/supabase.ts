import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { StorageClient } from '@supabase/storage-js';
import { NotFoundError } from '../../lib/errors.js';
import { isSafeKey } from '../../lib/storage-key.js';
import { contentTypeFor } from './content-type.js';
import { MAX_SIGNED_URL_S, type Storage } from './storage.js';

export interface SupabaseStorageOptions {
  /** The project URL, e.g. https://xyz.supabase.co (the adapter adds /storage/v1). */
  url: string;
  serviceRoleKey: string;
  bucket: string;
  /** For tests and proxies; defaults to the global fetch. */
  fetch?: typeof fetch;
}

interface StorageErrorLike {
  message: string;
  status?: number;
  statusCode?: string;
}

/**
 * Supabase Storage answers a missing object or bucket with 404, or (older
 * versions) with 400 and `statusCode: "404"` in the body.
 */
function isNotFound(error: StorageErrorLike): boolean {
  // A missing bucket is a configuration error (a 5xx and a failing /ready), not a missing file.
  if (/bucket/i.test(error.message)) return false;
  return error.status === 404 || error.statusCode === '404' || /not[ _]?found/i.test(error.message);
}

class SupabaseStorageError extends Error {
  override name = 'SupabaseStorageError';
  constructor(operation: string, error: StorageErrorLike) {
    super(`supabase storage ${operation} failed (${error.status ?? 'no status'}): ${error.message}`);
  }
}

/** Supabase Storage through its REST API, with the service role key (bypasses RLS: server side only). */
export function createSupabaseStorage(opts: SupabaseStorageOptions): Storage {
  const storageUrl = `${opts.url.replace(/\/+$/, '')}/storage/v1`;
  const client = new StorageClient(
    storageUrl,
    { apikey: opts.serviceRoleKey, Authorization: `Bearer ${opts.serviceRoleKey}` },
    opts.fetch,
  );
  const bucket = () => client.from(opts.bucket);

  /**
   * storage-js puts the path into the URL as it is, and fetch() would then
   * resolve `%2e%2e` segments or cut at `?` and `#`: each segment is
   * percent-encoded here, and the server decodes it once back to the key.
   */
  function checked(key: string): string {
    if (!isSafeKey(key)) throw new NotFoundError();
    return key.split('/').map(encodeURIComponent).join('/');
  }

  return {
    kind: 'supabase',
    async put(key, data, contentType) {
      const { error } = await bucket().upload(checked(key), data, {
        contentType: contentType || contentTypeFor(key),
        upsert: true,
        cacheControl: '3600',
      });
      if (error) throw new SupabaseStorageError('upload', error);
    },
    async get(key) {
      const { data, error } = await bucket().download(checked(key)).asStream();
      if (error) {
        if (isNotFound(error)) throw new NotFoundError();
        throw new SupabaseStorageError('download', error);
      }
      return {
        body: Readable.fromWeb(data as unknown as WebReadableStream),
        contentType: contentTypeFor(key),
      };
    },
    async exists(key) {
      if (!isSafeKey(key)) return false;
      const { data, error } = await bucket().exists(checked(key));
      if (error && !isNotFound(error) && error.status !== 400) throw new SupabaseStorageError('exists', error);
      return data;
    },
    async delete(key) {
      // Keys travel in the JSON body here, not in the URL.
      checked(key);
      const { error } = await bucket().remove([key]);
      if (error && !isNotFound(error)) throw new SupabaseStorageError('remove', error);
    },
    async signedUrl(key, expiresInS) {
      const expiresIn = Math.max(1, Math.min(Math.floor(expiresInS), MAX_SIGNED_URL_S));
      const path = checked(key);
      const { data, error } = await bucket().createSignedUrl(path, expiresIn);
      if (error) {
        if (isNotFound(error)) throw new NotFoundError();
        throw new SupabaseStorageError('createSignedUrl', error);
      }
      // storage-js joins the answer with encodeURI, which leaves `?` and `#` of a key as they are:
      // keep its token, and build the path from the key encoded segment by segment.
      const at = data.signedUrl.lastIndexOf('?token=');
      if (at === -1) throw new SupabaseStorageError('createSignedUrl', { message: 'no token in the signed URL' });
      return `${storageUrl}/object/sign/${encodeURIComponent(opts.bucket)}/${path}${data.signedUrl.slice(at)}`;
    },
    async check() {
      const { error } = await client.getBucket(opts.bucket);
      if (error) throw new SupabaseStorageError('getBucket', error);
    },
  };
}
