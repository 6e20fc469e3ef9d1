import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseOptions, queryRows } from '../../src/adapters/db/client.js';
import { createLocalStorage } from '../../src/adapters/storage/local.js';
import { deriveKey } from '../../src/container.js';
import { createTokenCipher } from '../../src/lib/token-cipher.js';
import { reencryptStoredTokens } from '../../src/modules/shops/token-rotation.js';
import { type FakeShopify, startFakeShopify } from '../fakes/shopify.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { createPostgresDatabase, DB_KINDS } from '../helpers/db.js';
import { spawnEntry } from '../helpers/process.js';
import { API_KEY, API_SECRET, BACKEND_URL, FRONTEND_URL } from '../helpers/shopify.js';

/**
 * Rotating JWT_SECRET and TOKEN_ENCRYPTION_KEY as docs/runbook.md says: deploy
 * the new values with the old ones in *_PREVIOUS, re-encrypt the stored tokens
 * (while the app runs and refreshes tokens), then drop the old values. The
 * database outlives three app generations; Shopify is the fake.
 */

const OLD = { jwt: 'o'.repeat(40), key: randomBytes(32) };
const NEW = { jwt: 'n'.repeat(40), key: randomBytes(32) };
const secretsEnv = (jwt: string, key: Buffer, previous?: { jwt: string; key: Buffer }) => ({
  JWT_SECRET: jwt,
  TOKEN_ENCRYPTION_KEY: key.toString('base64'),
  ...(previous ? { JWT_SECRET_PREVIOUS: previous.jwt, TOKEN_ENCRYPTION_KEY_PREVIOUS: previous.key.toString('base64') } : {}),
});

describe.each(DB_KINDS)('key rotation on %s', (kind) => {
  let fake: FakeShopify;
  let database: DatabaseOptions;
  let dropDatabase: () => Promise<void>;
  const suffix = randomBytes(3).toString('hex');
  const shops = Array.from({ length: 12 }, (_, i) => `rot${i}-${suffix}.myshopify.com`);

  beforeAll(async () => {
    fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET });
    if (kind === 'postgres') {
      const created = await createPostgresDatabase();
      database = { kind: 'postgres', url: created.url, poolSize: 10 };
      dropDatabase = created.drop;
    } else {
      const dir = mkdtempSync(path.join(tmpdir(), 'rotation-'));
      database = { kind: 'pglite', dataDir: dir };
      dropDatabase = async () => rmSync(dir, { recursive: true, force: true });
    }
  });
  afterAll(async () => {
    await fake?.close();
    await dropDatabase?.();
  });

  const start = (env: Record<string, string>) =>
    createTestApp({
      database,
      env: {
        SHOPIFY_API_KEY: API_KEY,
        SHOPIFY_API_SECRET: API_SECRET,
        SHOPIFY_ADMIN_URL_TEMPLATE: fake.adminUrlTemplate,
        BACKEND_URL,
        FRONTEND_URL,
        ...env,
      },
    });
  const me = (t: TestApp, cookie: string) => t.app.inject({ url: '/me', headers: { cookie: `session=${cookie}` } });
  const storedTokens = (t: TestApp) =>
    queryRows<{ domain: string; access_token_enc: string; refresh_token_enc: string }>(
      t.container.db,
      sql`select domain, access_token_enc, refresh_token_enc from shops where domain like ${`%-${suffix}.myshopify.com`} order by domain`,
    );

  it('old sessions, file URLs and stored tokens work during the rotation; after re-encryption only the new keys are needed', async () => {
    // Before: the shops install (token exchange) under the old keys.
    const before = await start(secretsEnv(OLD.jwt, OLD.key));
    for (const shop of shops) {
      const res = await before.app.inject({ url: '/me', headers: { authorization: `Bearer ${await fake.signSessionToken(shop)}` } });
      expect(res.statusCode).toBe(200);
    }
    const oldCookie = await before.container.auth.issueSession(shops[0]!);
    expect((await me(before, oldCookie)).statusCode).toBe(200);
    const underOldKey = await storedTokens(before);
    expect(underOldKey).toHaveLength(shops.length);
    for (const row of underOldKey) expect(createTokenCipher(OLD.key).decrypt(row.access_token_enc, row.domain)).toBeTruthy();
    await before.close();

    // During: the new keys are current, the old ones previous.
    const during = await start(secretsEnv(NEW.jwt, NEW.key, OLD));
    expect((await me(during, oldCookie)).statusCode).toBe(200);
    const newCookie = await during.container.auth.issueSession(shops[0]!);
    await expect(jwtVerify(newCookie, new TextEncoder().encode(NEW.jwt))).resolves.toBeTruthy();
    await expect(jwtVerify(newCookie, new TextEncoder().encode(OLD.jwt))).rejects.toThrow();
    // A file URL signed before the rotation still opens; one signed with an unknown secret does not.
    const key = `${shops[0]}/upload/rotation.png`;
    await during.container.storage.put(key, Buffer.from('png bytes'), 'image/png');
    const root = path.join(during.config.dataDir, 'files');
    const signedWith = (secret: string) =>
      createLocalStorage({ root, publicBaseUrl: BACKEND_URL, signingSecret: deriveKey(secret, 'files') }).signedUrl(key, 600);
    expect((await during.app.inject({ url: (await signedWith(OLD.jwt)).slice(BACKEND_URL.length) })).statusCode).toBe(200);
    expect((await during.app.inject({ url: (await signedWith('x'.repeat(40))).slice(BACKEND_URL.length) })).statusCode).toBe(404);

    // Stored tokens decrypt with the previous key: no Shopify call needed.
    const tokens = during.container.shopify!.tokens;
    const refreshesBefore = fake.calls.refresh;
    for (const shop of shops) expect(await tokens.getAccessToken(shop)).toBe(fake.accessTokens(shop).at(-1));
    expect(fake.calls.refresh).toBe(refreshesBefore);

    // Re-encryption while the app runs: half the shops' tokens are due, and the app refreshes
    // them (under the row lock) at the same time as the command rewrites every row.
    const due = shops.filter((_, i) => i % 2 === 0);
    await during.container.db.execute(
      sql`update shops set access_token_expires_at = now() where domain in (${sql.join(due.map((d) => sql`${d}`), sql`, `)})`,
    );
    const reencrypt = async () => {
      if (kind === 'pglite') {
        // One process owns an embedded database: the command's function, on the app's connection.
        return reencryptStoredTokens(during.container.db, createTokenCipher(NEW.key, [OLD.key]));
      }
      const command = spawnEntry('src/main/reencrypt-tokens.ts', {
        DATABASE_URL: (database as { url: string }).url,
        ...secretsEnv(NEW.jwt, NEW.key, OLD),
        SHOPIFY_API_KEY: API_KEY,
        SHOPIFY_API_SECRET: API_SECRET,
      });
      expect(await command.exited).toBe(0);
      return command.output();
    };
    const [first] = await Promise.all([reencrypt(), ...due.map((shop) => tokens.getAccessToken(shop))]);
    const counts =
      typeof first === 'string'
        ? /(\d+) shops re-encrypted with the current key, (\d+) already were, (\d+) unreadable/.exec(first)!.slice(1).map(Number)
        : [first.reencrypted, first.current, first.unreadable.length];
    // Each shop re-encrypted by the command, or already current because its refresh came first.
    expect(counts[0]! + counts[1]!).toBe(shops.length);
    expect(counts[0]).toBeGreaterThanOrEqual(shops.length - due.length);
    expect(counts[2]).toBe(0);
    expect(fake.calls.refresh).toBe(refreshesBefore + due.length); // each due token refreshed once
    // Idempotent: a second run finds nothing to do.
    const second = await reencryptStoredTokens(during.container.db, createTokenCipher(NEW.key, [OLD.key]));
    expect(second).toEqual({ reencrypted: 0, current: shops.length, unreadable: [] });
    await during.close();

    // After: only the new keys.
    const after = await start(secretsEnv(NEW.jwt, NEW.key));
    expect((await me(after, oldCookie)).statusCode).toBe(401);
    expect((await me(after, newCookie)).statusCode).toBe(200);
    const newOnly = createTokenCipher(NEW.key);
    for (const row of await storedTokens(after)) {
      expect(newOnly.decrypt(row.access_token_enc, row.domain)).toBe(fake.accessTokens(row.domain).at(-1));
      expect(newOnly.decrypt(row.refresh_token_enc, row.domain)).toBe(fake.refreshTokens(row.domain).at(-1));
      expect(() => createTokenCipher(OLD.key).decrypt(row.access_token_enc, row.domain)).toThrow();
    }
    const refreshesAfter = fake.calls.refresh;
    for (const shop of shops) expect(await after.container.shopify!.tokens.getAccessToken(shop)).toBe(fake.accessTokens(shop).at(-1));
    expect(fake.calls.refresh).toBe(refreshesAfter);
    await after.close();
  }, 120_000);
});
