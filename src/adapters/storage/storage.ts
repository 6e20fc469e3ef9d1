import type { Readable } from 'node:stream';

/** The storage port. Keys are checked with lib/storage-key before they get here. */
export interface Storage {
  readonly kind: 'local' | 's3' | 'supabase';
  put(key: string, data: Buffer, contentType: string): Promise<void>;
  /** NotFoundError when the key does not exist. */
  get(key: string): Promise<{ body: Readable; size?: number; contentType?: string }>;
  delete(key: string): Promise<void>;
  /** A URL anyone holding it can GET until it expires. */
  signedUrl(key: string, expiresInS: number): Promise<string>;
  /** Throws when the storage cannot be used (for /ready). */
  check(): Promise<void>;
}
