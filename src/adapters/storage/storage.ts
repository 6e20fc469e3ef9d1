import type { Readable } from 'node:stream';

/**
 * The storage port. Keys are checked with lib/storage-key before they get
 * here; every adapter refuses an unsafe key again with NotFoundError.
 */
export interface Storage {
  readonly kind: 'local' | 's3' | 'supabase';
  /** Creates or replaces the object. */
  put(key: string, data: Buffer, contentType: string): Promise<void>;
  /** NotFoundError when the key does not exist. */
  get(key: string): Promise<{ body: Readable; size?: number; contentType?: string }>;
  /** True when the object exists (false for an unsafe key). */
  exists(key: string): Promise<boolean>;
  /** Removes the object; removing a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** A URL anyone holding it can GET until it expires (at most 7 days). */
  signedUrl(key: string, expiresInS: number): Promise<string>;
  /** Throws when the storage cannot be used (for /ready). */
  check(): Promise<void>;
  /** Releases connections (optional). */
  close?(): Promise<void>;
}

/** The longest validity of a signed URL (S3 SigV4 presigned URLs allow no more). */
export const MAX_SIGNED_URL_S = 7 * 24 * 3600;
