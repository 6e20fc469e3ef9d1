import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { signSession, verifySession } from '../../src/lib/session-jwt.js';
import { createTokenCipher } from '../../src/lib/token-cipher.js';

const shopify = { SHOPIFY_API_KEY: 'k', SHOPIFY_API_SECRET: 's' };
const key = () => randomBytes(32).toString('base64');

describe('rotation settings', () => {
  it('reads previous secrets and keys as lists, without the current ones', () => {
    const current = key();
    const previous = [key(), key()];
    const config = loadConfig({
      ...shopify,
      JWT_SECRET: 'c'.repeat(32),
      JWT_SECRET_PREVIOUS: `${'p'.repeat(32)}, ${'c'.repeat(32)}`,
      TOKEN_ENCRYPTION_KEY: current,
      TOKEN_ENCRYPTION_KEY_PREVIOUS: [...previous, current].join(','),
    });
    expect(config.jwtPreviousSecrets).toEqual(['p'.repeat(32)]);
    expect(config.tokenEncryptionPreviousKeys.map((k) => k.toString('base64'))).toEqual(previous);
  });

  it('refuses a short previous secret or a previous key that is not 32 bytes, naming the variable', () => {
    const base = { ...shopify, JWT_SECRET: 'c'.repeat(32), TOKEN_ENCRYPTION_KEY: key() };
    expect(() => loadConfig({ ...base, JWT_SECRET_PREVIOUS: 'short' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, JWT_SECRET_PREVIOUS: 'short' })).toThrow(/^JWT_SECRET_PREVIOUS:/);
    expect(() => loadConfig({ ...base, TOKEN_ENCRYPTION_KEY_PREVIOUS: randomBytes(16).toString('base64') })).toThrow(
      /^TOKEN_ENCRYPTION_KEY_PREVIOUS:/,
    );
  });

  it('reads the worker shutdown grace, the queue prefix and the worker port', () => {
    const config = loadConfig({ ...shopify, JWT_SECRET: 'c'.repeat(32), TOKEN_ENCRYPTION_KEY: key(), WORKER_SHUTDOWN_GRACE_S: '40', QUEUE_PREFIX: 'prod', WORKER_PORT: '8001' });
    expect([config.workerShutdownGraceMs, config.queuePrefix, config.workerPort]).toEqual([40_000, 'prod', 8001]);
    expect(() => loadConfig({ ...shopify, JWT_SECRET: 'c'.repeat(32), TOKEN_ENCRYPTION_KEY: key(), QUEUE_PREFIX: 'a b' })).toThrow(/^QUEUE_PREFIX:/);
  });
});

describe('session cookies during a rotation', () => {
  it('verifies with the current or a previous secret; signs with the current one', async () => {
    const [old, current] = ['o'.repeat(32), 'n'.repeat(32)];
    const oldToken = await signSession(old, 'a.myshopify.com');
    expect(await verifySession(current, oldToken)).toBeNull();
    expect(await verifySession(current, oldToken, [old])).toBe('a.myshopify.com');
    expect(await verifySession(current, oldToken, ['x'.repeat(32)])).toBeNull();
    expect(await verifySession(current, await signSession(current, 'a.myshopify.com'))).toBe('a.myshopify.com');
  });
});

describe('token cipher during a rotation', () => {
  const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
  const shop = 'a.myshopify.com';

  it('decrypts with the current or a previous key and encrypts with the current one', () => {
    const old = createTokenCipher(oldKey).encrypt('shpat_1', shop);
    const rotating = createTokenCipher(newKey, [oldKey]);
    expect(rotating.decrypt(old, shop)).toBe('shpat_1');
    expect(createTokenCipher(newKey).decrypt(rotating.encrypt('shpat_2', shop), shop)).toBe('shpat_2');
    expect(() => rotating.decrypt(old, 'b.myshopify.com')).toThrow();
  });

  it('re-encrypts what a previous key opens, leaves current values alone, and refuses unknown ones', () => {
    const rotating = createTokenCipher(newKey, [oldKey]);
    const again = rotating.reencrypt(createTokenCipher(oldKey).encrypt('shpat_1', shop), shop)!;
    expect(createTokenCipher(newKey).decrypt(again, shop)).toBe('shpat_1');
    expect(rotating.reencrypt(again, shop)).toBeNull();
    expect(() => rotating.reencrypt(createTokenCipher(randomBytes(32)).encrypt('x', shop), shop)).toThrow();
  });
});
