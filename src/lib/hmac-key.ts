import { webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
const keys = new Map<string, Promise<CryptoKey>>();

/**
 * The HS256 key of a secret, imported once as a CryptoKey: jose re-imports a
 * raw secret or a KeyObject on every call, which costs more than the
 * verification itself.
 */
export function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = webcrypto.subtle.importKey('raw', Buffer.from(secret, 'utf8'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    keys.set(secret, key);
  }
  return key;
}
