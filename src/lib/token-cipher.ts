import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Shopify tokens at rest: AES-256-GCM with a random 12-byte IV and the shop
 * as associated data, so a ciphertext copied to another shop's row does not
 * decrypt. Format (versioned, so a later key or algorithm can coexist):
 * `v1.<iv>.<tag>.<ciphertext>`, each part base64url.
 */
export interface TokenCipher {
  encrypt(plain: string, shop: string): string;
  /** Throws when the value was altered, belongs to another shop or another key. */
  decrypt(encrypted: string, shop: string): string;
}

const VERSION = 'v1';

export function createTokenCipher(key: Buffer): TokenCipher {
  if (key.length !== 32) throw new Error('token cipher key must be 32 bytes');
  return {
    encrypt(plain, shop) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(shop, 'utf8'));
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, iv.toString('base64url'), tag.toString('base64url'), ct.toString('base64url')].join('.');
    },
    decrypt(encrypted, shop) {
      const parts = encrypted.split('.');
      if (parts.length !== 4 || parts[0] !== VERSION) throw new Error('unknown token ciphertext format');
      const [, ivText, tagText, ctText] = parts as [string, string, string, string];
      const iv = Buffer.from(ivText, 'base64url');
      const tag = Buffer.from(tagText, 'base64url');
      if (iv.length !== 12 || tag.length !== 16) throw new Error('malformed token ciphertext');
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
      decipher.setAAD(Buffer.from(shop, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(ctText, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}
