import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { NotFoundError } from '../../lib/errors.js';
import { isSafeKey } from '../../lib/storage-key.js';
import { contentTypeFor } from './content-type.js';
import { MAX_SIGNED_URL_S, type Storage } from './storage.js';

export interface S3StorageOptions {
  bucket: string;
  /** For R2, MinIO, Supabase's S3 endpoint; unset for AWS. */
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style URLs (`{endpoint}/{bucket}/{key}`), needed by most S3-compatible servers. */
  forcePathStyle: boolean;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** Any S3-compatible object store, with presigned GET URLs. */
export function createS3Storage(opts: S3StorageOptions): Storage & { client: S3Client } {
  const config: S3ClientConfig = {
    region: opts.region,
    forcePathStyle: opts.forcePathStyle,
    // Checksums only where S3 requires them: several S3-compatible servers reject the newer defaults.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    // Without explicit keys the SDK's default chain applies (env, profile, instance role).
    ...(opts.accessKeyId && opts.secretAccessKey
      ? { credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey } }
      : {}),
  };
  const client = new S3Client(config);
  const Bucket = opts.bucket;

  function checked(key: string): string {
    if (!isSafeKey(key)) throw new NotFoundError();
    return key;
  }

  return {
    kind: 's3',
    client,
    async put(key, data, contentType) {
      await client.send(
        new PutObjectCommand({
          Bucket,
          Key: checked(key),
          Body: data,
          ContentLength: data.length,
          ContentType: contentType || contentTypeFor(key),
        }),
      );
    },
    async get(key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket, Key: checked(key) }));
        const raw = res.Body;
        if (!raw) throw new NotFoundError();
        // In Node the SDK answers a Readable (IncomingMessage); anything else is a web stream.
        const body =
          raw instanceof Readable ? raw : Readable.fromWeb((raw as { transformToWebStream(): WebReadableStream }).transformToWebStream());
        return {
          body,
          ...(res.ContentLength !== undefined ? { size: res.ContentLength } : {}),
          contentType: res.ContentType ?? contentTypeFor(key),
        };
      } catch (err) {
        if (isNotFound(err)) throw new NotFoundError();
        throw err;
      }
    },
    async exists(key) {
      if (!isSafeKey(key)) return false;
      try {
        await client.send(new HeadObjectCommand({ Bucket, Key: key }));
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    async delete(key) {
      // S3 answers 204 for a missing key too.
      await client.send(new DeleteObjectCommand({ Bucket, Key: checked(key) }));
    },
    async signedUrl(key, expiresInS) {
      const expiresIn = Math.max(1, Math.min(Math.floor(expiresInS), MAX_SIGNED_URL_S));
      return getSignedUrl(client, new GetObjectCommand({ Bucket, Key: checked(key) }), { expiresIn });
    },
    async check() {
      await client.send(new HeadBucketCommand({ Bucket }));
    },
    async close() {
      client.destroy();
    },
  };
}
