import { createHmac } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { createTestApp, type TestApp } from './app.js';
import type { DbKind } from './db.js';
import { type FakeShopify, startFakeShopify } from '../fakes/shopify.js';

export const API_KEY = 'test-api-key';
export const API_SECRET = 'test-api-secret-0123456789abcdef';
export const BACKEND_URL = 'https://api.example.test';
export const FRONTEND_URL = 'https://dash.example.test';
export const TOKEN_KEY = Buffer.alloc(32, 7);

/** The environment of Shopify mode, as an operator sets it. */
export const SHOPIFY_ENV = {
  SHOPIFY_API_KEY: API_KEY,
  SHOPIFY_API_SECRET: API_SECRET,
  JWT_SECRET: 'j'.repeat(40),
  TOKEN_ENCRYPTION_KEY: TOKEN_KEY.toString('base64'),
};

/** An installed shop as an install leaves it: a stored token, so Bearer requests need no token exchange. */
export function insertInstalledShop(t: TestApp, shop: string) {
  return t.container.db.execute(
    sql`insert into shops (domain, installed_at, access_token_enc) values (${shop}, now(), 'v1.stored.token.placeholder') on conflict do nothing`,
  );
}

/** The real app in Shopify mode, talking to a fresh fake Shopify; `env` adds or overrides variables. */
export async function createShopifyTestApp(
  db: DbKind = 'pglite',
  env: Record<string, string> = {},
): Promise<{ t: TestApp; fake: FakeShopify; close(): Promise<void> }> {
  const fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET });
  const t = await createTestApp({
    db,
    env: {
      ...SHOPIFY_ENV,
      SHOPIFY_ADMIN_URL_TEMPLATE: fake.adminUrlTemplate,
      BACKEND_URL,
      FRONTEND_URL,
      ...env,
    },
  });
  return {
    t,
    fake,
    async close() {
      await t.close();
      await fake.close();
    },
  };
}

/** An RS256 token whose "signature" is an HMAC with the app secret: the algorithm-confusion attack. */
export function rs256WithSecretAsKey(payload: Record<string, unknown>, secret: string): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
