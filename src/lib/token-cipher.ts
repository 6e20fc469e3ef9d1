import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Shopify tokens at rest: AES-256-GCM with a random 12-byte IV and the shop
 * as associated data, so a ciphertext copied to another shop's row does not
 * decrypt. Format (versioned, so a later key or algorithm can coexist):
 * `v1.<iv>.<tag>.<ciphertext>`, each part base64url.
 */
export interface TokenCipher {
  /** Always with the current key. */
  encrypt(plain: string, shop: string): string;
  /** With the current or a previous key; throws when the value was altered, belongs to another shop or to no known key. */
  decrypt(encrypted: string, shop: string): string;
  /** The value encrypted with the current key, or null when it already is; throws like decrypt. */
  reencrypt(encrypted: string, shop: string): string | null;
}

const VERSION = 'v1';

/**
 * `previous`: retired keys (TOKEN_ENCRYPTION_KEY_PREVIOUS), tried after the current one
 * during a rotation. GCM's tag tells a wrong key at once, so no key id is stored.
 */
export function createTokenCipher(key: Buffer, previous: readonly Buffer[] = []): TokenCipher {
  const keys = [key, ...previous];
  if (keys.some((k) => k.length !== 32)) throw new Error('token cipher key must be 32 bytes');

  function decryptWith(k: Buffer, encrypted: string, shop: string): string {
    const parts = encrypted.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) throw new Error('unknown token ciphertext format');
    const [, ivText, tagText, ctText] = parts as [string, string, string, string];
    const iv = Buffer.from(ivText, 'base64url');
    const tag = Buffer.from(tagText, 'base64url');
    if (iv.length !== 12 || tag.length !== 16) throw new Error('malformed token ciphertext');
    const decipher = createDecipheriv('aes-256-gcm', k, iv, { authTagLength: 16 });
    decipher.setAAD(Buffer.from(shop, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(ctText, 'base64url')), decipher.final()]).toString('utf8');
  }

  /** The plaintext and the index of the key that opened it (0 = current). */
  function open(encrypted: string, shop: string): { plain: string; index: number } {
    let lastError: unknown;
    for (const [index, k] of keys.entries()) {
      try {
        return { plain: decryptWith(k, encrypted, shop), index };
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  const tokenCipher: TokenCipher = {
    encrypt(plain, shop) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(shop, 'utf8'));
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, iv.toString('base64url'), tag.toString('base64url'), ct.toString('base64url')].join('.');
    },
    decrypt: (encrypted, shop) => open(encrypted, shop).plain,
    reencrypt(encrypted, shop) {
      const { plain, index } = open(encrypted, shop);
      return index === 0 ? null : tokenCipher.encrypt(plain, shop);
    },
  };
  return tokenCipher;
}
