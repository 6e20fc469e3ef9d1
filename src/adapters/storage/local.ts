import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { access, mkdir, open, rename, rm, stat, writeFile, constants } from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError } from '../../lib/errors.js';
import { isSafeKey } from '../../lib/storage-key.js';
import { contentTypeFor } from './content-type.js';
import type { Storage } from './storage.js';

/**
 * Local disk under `root`. Signed URLs point at our own `/files/{key}` route
 * with an expiry and an HMAC of (key, expiry). `previousSigningSecrets` still
 * verify during a secret rotation, so URLs handed out before it keep working.
 */
export function createLocalStorage(opts: {
  root: string;
  publicBaseUrl: string;
  signingSecret: string;
  previousSigningSecrets?: readonly string[];
}) {
  const root = path.resolve(opts.root);

  function resolve(key: string): string {
    if (!isSafeKey(key)) throw new NotFoundError();
    const full = path.resolve(root, key);
    if (!full.startsWith(root + path.sep)) throw new NotFoundError();
    return full;
  }

  function signature(key: string, exp: number, secret = opts.signingSecret): string {
    return createHmac('sha256', secret).update(`${exp}\n${key}`).digest('base64url');
  }
  const secrets = [opts.signingSecret, ...(opts.previousSigningSecrets ?? [])];

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
      // Open first, then stat the open file: a file deleted meanwhile is a 404, never a broken stream.
      const handle = await open(full, 'r').catch(() => null);
      if (!handle) throw new NotFoundError();
      const info = await handle.stat().catch(() => null);
      if (!info?.isFile()) {
        await handle.close();
        throw new NotFoundError();
      }
      return {
        body: handle.createReadStream(),
        size: info.size,
        contentType: contentTypeFor(key),
      };
    },
    async exists(key) {
      if (!isSafeKey(key)) return false;
      const info = await stat(resolve(key)).catch(() => null);
      return info?.isFile() ?? false;
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
      const given = Buffer.from(sig);
      return secrets.some((secret) => {
        const expected = Buffer.from(signature(key, Number(exp), secret));
        return given.length === expected.length && timingSafeEqual(given, expected);
      });
    },
  };
  return storage;
}

export type LocalStorage = ReturnType<typeof createLocalStorage>;

/** True for the local adapter, whose signed URLs our own /files route serves. */
export function isLocalStorage(storage: Storage): storage is LocalStorage {
  return storage.kind === 'local' && typeof (storage as Partial<LocalStorage>).verifySignature === 'function';
}
