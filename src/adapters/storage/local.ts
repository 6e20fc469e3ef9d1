import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, rename, rm, stat, writeFile, constants } from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError } from '../../lib/errors.js';
import { isSafeKey } from '../../lib/storage-key.js';
import type { Storage } from './storage.js';

const TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.avif': 'image/avif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

/**
 * Local disk under `root`. Signed URLs point at our own `/files/{key}` route
 * with an expiry and an HMAC of (key, expiry).
 */
export function createLocalStorage(opts: { root: string; publicBaseUrl: string; signingSecret: string }) {
  const root = path.resolve(opts.root);

  function resolve(key: string): string {
    if (!isSafeKey(key)) throw new NotFoundError();
    const full = path.resolve(root, key);
    if (!full.startsWith(root + path.sep)) throw new NotFoundError();
    return full;
  }

  function signature(key: string, exp: number): string {
    return createHmac('sha256', opts.signingSecret).update(`${exp}\n${key}`).digest('base64url');
  }

  const storage: Storage & { verifySignature(key: string, exp: string, sig: string, nowS?: number): boolean } = {
    kind: 'local',
    async put(key, data) {
      const full = resolve(key);
      await mkdir(path.dirname(full), { recursive: true });
      // Write then rename, so a reader never sees half a file.
      const tmp = `${full}.${randomUUID()}.tmp`;
      await writeFile(tmp, data);
      await rename(tmp, full);
    },
    async get(key) {
      const full = resolve(key);
      const info = await stat(full).catch(() => null);
      if (!info?.isFile()) throw new NotFoundError();
      return {
        body: createReadStream(full),
        size: info.size,
        contentType: TYPES[path.extname(full).toLowerCase()] ?? 'application/octet-stream',
      };
    },
    async delete(key) {
      await rm(resolve(key), { force: true });
    },
    async signedUrl(key, expiresInS) {
      resolve(key);
      const exp = Math.floor(Date.now() / 1000) + expiresInS;
      const encoded = key.split('/').map(encodeURIComponent).join('/');
      return `${opts.publicBaseUrl}/files/${encoded}?exp=${exp}&sig=${signature(key, exp)}`;
    },
    async check() {
      await mkdir(root, { recursive: true });
      await access(root, constants.W_OK | constants.R_OK);
    },
    verifySignature(key, exp, sig, nowS = Math.floor(Date.now() / 1000)) {
      if (!/^\d{1,12}$/.test(exp) || Number(exp) < nowS) return false;
      const expected = Buffer.from(signature(key, Number(exp)));
      const given = Buffer.from(sig);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
  return storage;
}

export type LocalStorage = ReturnType<typeof createLocalStorage>;
