import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/adapters/db/client.js';
import { openDatabase, queryRows } from '../../src/adapters/db/client.js';
import { AdminGraphqlError, createAdminGraphqlClient, createShopGraphql, throttleWaitMs } from '../../src/adapters/shopify/admin-graphql.js';
import { createShopifyAuth, ShopifyGrantRejectedError, type ShopifyAuth } from '../../src/adapters/shopify/auth.js';
import { UnavailableError } from '../../src/lib/errors.js';
import { createTokenCipher } from '../../src/lib/token-cipher.js';
import { installShop } from '../../src/modules/shops/shops.js';
import { createTokenStore, NoAccessTokenError } from '../../src/modules/shops/tokens.js';
import { createPostgresDatabase, DB_KINDS, openTestDatabase } from '../helpers/db.js';
import { postgresAvailable } from '../helpers/services.js';
import { API_KEY, API_SECRET } from '../helpers/shopify.js';
import { type FakeShopify, startFakeShopify } from '../fakes/shopify.js';

/** The official library's token grants, talking to the fake Shopify. */
const authFor = (fake: FakeShopify): ShopifyAuth =>
  createShopifyAuth({
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    scopes: 'read_products',
    apiVersion: '2026-10',
    appUrl: 'https://api.example.test',
    adminUrlTemplate: fake.adminUrlTemplate,
  });

const key = randomBytes(32);
const cipher = createTokenCipher(key);

describe('token cipher', () => {
  it('round-trips with a random IV, in a versioned format', () => {
    const a = cipher.encrypt('shpat_secret', 'a.myshopify.com');
    const b = cipher.encrypt('shpat_secret', 'a.myshopify.com');
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('shpat_secret');
    expect(cipher.decrypt(a, 'a.myshopify.com')).toBe('shpat_secret');
  });

  it('refuses another shop (associated data), another key, a tampered value, an unknown version', () => {
    const enc = cipher.encrypt('shpat_secret', 'a.myshopify.com');
    expect(() => cipher.decrypt(enc, 'b.myshopify.com')).toThrow();
    expect(() => createTokenCipher(randomBytes(32)).decrypt(enc, 'a.myshopify.com')).toThrow();
    const parts = enc.split('.');
    const ct = Buffer.from(parts[3]!, 'base64url');
    ct[0] = ct[0]! ^ 1;
    expect(() => cipher.decrypt([parts[0], parts[1], parts[2], ct.toString('base64url')].join('.'), 'a.myshopify.com')).toThrow();
    expect(() => cipher.decrypt(`v2${enc.slice(2)}`, 'a.myshopify.com')).toThrow();
    expect(() => cipher.decrypt('garbage', 'a.myshopify.com')).toThrow();
    expect(() => createTokenCipher(randomBytes(16))).toThrow();
  });
});

describe("the official library's token grants against the fake Shopify", () => {
  let fake: FakeShopify;
  let auth: ShopifyAuth;
  beforeAll(async () => {
    fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET });
    auth = authFor(fake);
  });
  afterAll(() => fake.close());

  it('token exchange gives an expiring offline token (about 1 h) with a refresh token (about 90 days)', async () => {
    const shop = 'grant.myshopify.com';
    const set = await auth.exchangeSessionToken(shop, await fake.signSessionToken(shop));
    expect(set.accessToken).toBe(fake.accessTokens(shop).at(-1));
    expect(set.refreshToken).toBe(fake.refreshTokens(shop).at(-1));
    expect(set.scope).toBe('read_products,write_products,read_files,write_files');
    expect(set.expiresAt!.getTime() - Date.now()).toBeGreaterThan(59 * 60_000);
    expect(set.refreshTokenExpiresAt!.getTime() - Date.now()).toBeGreaterThan(89 * 86_400_000);
    const refreshed = await auth.refreshAccessToken(shop, set.refreshToken!);
    expect(refreshed.accessToken).not.toBe(set.accessToken);
    expect(refreshed.refreshToken).toBe(fake.refreshTokens(shop).at(-1));
  });

  it('a refusal by Shopify is ShopifyGrantRejectedError: a session token for another shop, a spent refresh token', async () => {
    const token = await fake.signSessionToken('victim.myshopify.com');
    await expect(auth.exchangeSessionToken('attacker.myshopify.com', token)).rejects.toBeInstanceOf(ShopifyGrantRejectedError);
    await expect(auth.refreshAccessToken('attacker.myshopify.com', 'shprt_spent')).rejects.toBeInstanceOf(ShopifyGrantRejectedError);
    await expect(auth.exchangeSessionToken('x.myshopify.com', 'not-a-token')).rejects.toBeInstanceOf(ShopifyGrantRejectedError);
  });

  it.each([429, 503])('a token endpoint answering %i is unavailable, not a refusal', async (status) => {
    fake.failTokenRequests(1, status);
    const shop = 'busy.myshopify.com';
    const error = await auth.exchangeSessionToken(shop, await fake.signSessionToken(shop)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
  });

  it('an unreachable Shopify is unavailable', async () => {
    const gone = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET });
    const goneAuth = authFor(gone);
    const token = await gone.signSessionToken('gone.myshopify.com');
    await gone.close();
    await expect(goneAuth.exchangeSessionToken('gone.myshopify.com', token)).rejects.toBeInstanceOf(UnavailableError);
  });

  it('two app instances at once each reach their own Shopify (the library has one fetch per process)', async () => {
    const other = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET });
    try {
      const otherAuth = authFor(other);
      const before = [fake.calls.tokenExchange, other.calls.tokenExchange];
      const shops = Array.from({ length: 6 }, (_, i) => `both-${i}.myshopify.com`);
      await Promise.all(
        shops.flatMap((s) => [
          (async () => auth.exchangeSessionToken(s, await fake.signSessionToken(s)))(),
          (async () => otherAuth.exchangeSessionToken(s, await other.signSessionToken(s)))(),
        ]),
      );
      expect([fake.calls.tokenExchange - before[0]!, other.calls.tokenExchange - before[1]!]).toEqual([6, 6]);
      for (const s of shops) expect([fake.accessTokens(s).length, other.accessTokens(s).length]).toEqual([1, 1]);
    } finally {
      await other.close();
    }
  });

  it('never calls a host that is not a shop domain', async () => {
    const before = fake.calls.refresh;
    await expect(auth.refreshAccessToken('evil.com', 'shprt_x')).rejects.toThrow();
    await expect(auth.exchangeCode('evil.com', 'code')).rejects.toThrow();
    expect(fake.calls.refresh).toBe(before);
  });
});

describe.each(DB_KINDS)('Shopify tokens on %s', (kind) => {
  let database: Database;
  let fake: FakeShopify;
  let auth: ShopifyAuth;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
    fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET });
    auth = authFor(fake);
  });
  afterAll(async () => {
    await database.close();
    await fake.close();
  });

  const storeFor = (db: Database['db']) =>
    createTokenStore({ db, cipher, refresh: (shop, rt) => auth.refreshAccessToken(shop, rt) });

  /** Installs the shop with tokens from a token exchange whose access token expires in `ttl` seconds. */
  async function installWithTtl(shop: string, ttl: number) {
    fake.setAccessTokenTtl(ttl);
    const set = await auth.exchangeSessionToken(shop, await fake.signSessionToken(shop));
    fake.setAccessTokenTtl(3600);
    await installShop(database.db, shop, 10, storeFor(database.db).encryptedFields(shop, set));
    return set;
  }

  it('returns the stored token while fresh, without calling Shopify', async () => {
    const shop = 'fresh.myshopify.com';
    const set = await installWithTtl(shop, 3600);
    const refreshes = fake.calls.refresh;
    expect(await storeFor(database.db).getAccessToken(shop)).toBe(set.accessToken);
    expect(fake.calls.refresh).toBe(refreshes);
  });

  it('refreshes a token about to expire and stores both new tokens, encrypted, in one write', async () => {
    const shop = 'expiring.myshopify.com';
    const old = await installWithTtl(shop, 120); // inside the 5-minute margin
    const refreshes = fake.calls.refresh;
    const token = await storeFor(database.db).getAccessToken(shop);
    expect(token).not.toBe(old.accessToken);
    expect(fake.calls.refresh).toBe(refreshes + 1);
    expect(fake.accessTokens(shop).at(-1)).toBe(token);
    const [row] = await queryRows<Record<string, string>>(database.db, sql`select * from shops where domain = ${shop}`);
    expect(cipher.decrypt(row!.access_token_enc!, shop)).toBe(token);
    expect(cipher.decrypt(row!.refresh_token_enc!, shop)).toBe(fake.refreshTokens(shop).at(-1));
    expect(cipher.decrypt(row!.refresh_token_enc!, shop)).not.toBe(old.refreshToken);
    // Next call: fresh, no refresh.
    expect(await storeFor(database.db).getAccessToken(shop)).toBe(token);
    expect(fake.calls.refresh).toBe(refreshes + 1);
  });

  it('concurrent refreshes of the same token: one refresh call reaches Shopify', async () => {
    const shop = 'race.myshopify.com';
    await installWithTtl(shop, 60);
    fake.setRefreshDelay(300);
    try {
      const refreshes = fake.calls.refresh;
      // Separate stores on one database handle (separate pools: the PostgreSQL suite below).
      const stores = [storeFor(database.db), storeFor(database.db), storeFor(database.db)];
      const tokens = await Promise.all(stores.map((s) => s.getAccessToken(shop)));
      expect(new Set(tokens).size).toBe(1);
      expect(fake.calls.refresh).toBe(refreshes + 1);
    } finally {
      fake.setRefreshDelay(0);
    }
  });

  it('refreshes once after Shopify answers 401, then retries the query', async () => {
    const shop = 'revoked.myshopify.com';
    const set = await installWithTtl(shop, 3600);
    const store = storeFor(database.db);
    const client = createAdminGraphqlClient({ adminUrlTemplate: fake.adminUrlTemplate, apiVersion: '2026-10' });
    const graphql = createShopGraphql(client, (s, o) => store.getAccessToken(s, o));
    fake.revokeAccessTokens(shop);
    const refreshes = fake.calls.refresh;
    const data = await graphql<{ node: null }>(shop, 'query n($id: ID!) { node(id: $id) { id } }', { id: 'gid://shopify/AppPurchaseOneTime/999' });
    expect(data).toEqual({ node: null });
    expect(fake.calls.refresh).toBe(refreshes + 1);
    expect(await store.getAccessToken(shop)).not.toBe(set.accessToken);
  });

  it('a dead refresh token clears the stored tokens (the next session token exchanges again)', async () => {
    const shop = 'dead.myshopify.com';
    await installWithTtl(shop, 60);
    const store = storeFor(database.db);
    // Spend the refresh token behind the store's back.
    await auth.refreshAccessToken(shop, fake.refreshTokens(shop).at(-1)!);
    await expect(store.getAccessToken(shop)).rejects.toBeInstanceOf(NoAccessTokenError);
    expect(await store.hasAccessToken(database.db, shop)).toBe(false);
  });

  it('a refresh that meets a throttled or failing Shopify keeps the stored tokens for the next try', async () => {
    const shop = 'throttled.myshopify.com';
    await installWithTtl(shop, 60);
    const store = storeFor(database.db);
    fake.failTokenRequests(1, 429);
    await expect(store.getAccessToken(shop)).rejects.toBeInstanceOf(UnavailableError);
    expect(await store.hasAccessToken(database.db, shop)).toBe(true);
    expect(await store.getAccessToken(shop)).toBe(fake.accessTokens(shop).at(-1));
  });

  it('a shop without a token, or uninstalled, has no access token', async () => {
    const store = storeFor(database.db);
    await expect(store.getAccessToken('nobody.myshopify.com')).rejects.toBeInstanceOf(NoAccessTokenError);
    const shop = 'gone.myshopify.com';
    await installWithTtl(shop, 3600);
    await database.db.execute(sql`update shops set uninstalled_at = now() where domain = ${shop}`);
    await expect(store.getAccessToken(shop)).rejects.toBeInstanceOf(NoAccessTokenError);
  });
});

describe.skipIf(!postgresAvailable)('refresh lock across processes (PostgreSQL)', () => {
  let fake: FakeShopify;
  let created: { url: string; drop(): Promise<void> };
  const pools: Database[] = [];
  beforeAll(async () => {
    fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET });
    created = await createPostgresDatabase();
    for (let i = 0; i < 3; i++) pools.push(await openDatabase({ kind: 'postgres', url: created.url, poolSize: 4 }));
    await pools[0]!.migrate();
  });
  afterAll(async () => {
    for (const p of pools) await p.close();
    await created.drop();
    await fake.close();
  });

  it('three connection pools refreshing the same token at once: one refresh call, one new token', async () => {
    const auth = authFor(fake);
    const shop = 'multiproc.myshopify.com';
    const stores = pools.map((p) => createTokenStore({ db: p.db, cipher, refresh: (s, rt) => auth.refreshAccessToken(s, rt) }));
    fake.setAccessTokenTtl(60);
    const set = await auth.exchangeSessionToken(shop, await fake.signSessionToken(shop));
    fake.setAccessTokenTtl(3600);
    await installShop(pools[0]!.db, shop, 10, stores[0]!.encryptedFields(shop, set));
    fake.setRefreshDelay(300);
    const tokens = await Promise.all([...stores, ...stores].map((s) => s.getAccessToken(shop)));
    expect(new Set(tokens).size).toBe(1);
    expect(fake.calls.refresh).toBe(1);
    expect(fake.calls.tokenRejected).toBe(0);
  });
});

describe('Admin GraphQL client', () => {
  let fake: FakeShopify;
  let token: string;
  const shop = 'gql.myshopify.com';
  beforeAll(async () => {
    fake = await startFakeShopify({ apiKey: API_KEY, apiSecret: API_SECRET });
    token = (await authFor(fake).exchangeSessionToken(shop, await fake.signSessionToken(shop))).accessToken;
  });
  afterAll(() => fake.close());

  it('waits per throttleStatus and retries a THROTTLED answer', async () => {
    const waits: number[] = [];
    const client = createAdminGraphqlClient({
      adminUrlTemplate: fake.adminUrlTemplate,
      apiVersion: '2026-10',
      sleep: async (ms) => void waits.push(ms),
    });
    fake.throttleNext(2, { requestedQueryCost: 50, currentlyAvailable: 10, restoreRate: 100 });
    const data = await client.request<{ node: null }>(shop, token, 'query q($id: ID!) { node(id: $id) { id } }', { id: 'x' });
    expect(data).toEqual({ node: null });
    expect(waits).toEqual([400, 400]);
    expect(fake.calls.throttled).toBe(2);
  });

  it('gives up after the bounded retries with a 503-kind error', async () => {
    const client = createAdminGraphqlClient({ adminUrlTemplate: fake.adminUrlTemplate, apiVersion: '2026-10', maxRetries: 2, sleep: async () => {} });
    fake.throttleNext(5);
    await expect(client.request(shop, token, 'query { node(id: "x") { id } }')).rejects.toBeInstanceOf(UnavailableError);
    fake.throttleNext(0);
  });

  it('computes waits from throttleStatus, bounded', () => {
    expect(throttleWaitMs({ requestedQueryCost: 100, throttleStatus: { currentlyAvailable: 0, restoreRate: 50 } }, 10_000)).toBe(2000);
    expect(throttleWaitMs({ requestedQueryCost: 100000, throttleStatus: { currentlyAvailable: 0, restoreRate: 50 } }, 10_000)).toBe(10_000);
    expect(throttleWaitMs(undefined, 10_000)).toBe(1000);
  });

  it('creates and reads a one-time purchase through the fake', async () => {
    const client = createAdminGraphqlClient({ adminUrlTemplate: fake.adminUrlTemplate, apiVersion: '2026-10' });
    const created = await client.request<{
      appPurchaseOneTimeCreate: { appPurchaseOneTime: { id: string; status: string }; confirmationUrl: string; userErrors: unknown[] };
    }>(
      shop,
      token,
      `mutation appPurchaseOneTimeCreate($name: String!, $price: MoneyInput!, $returnUrl: URL!, $test: Boolean) {
        appPurchaseOneTimeCreate(name: $name, price: $price, returnUrl: $returnUrl, test: $test) {
          appPurchaseOneTime { id status } confirmationUrl userErrors { field message } } }`,
      { name: '100 credits', price: { amount: '10.00', currencyCode: 'USD' }, returnUrl: 'https://api.example.test/credits/confirm', test: true },
    );
    const id = created.appPurchaseOneTimeCreate.appPurchaseOneTime.id;
    expect(id).toMatch(/^gid:\/\/shopify\/AppPurchaseOneTime\/\d+$/);
    fake.setPurchaseStatus(id, 'ACTIVE');
    const read = await client.request<{ node: { status: string; price: { amount: string } } }>(
      shop,
      token,
      'query p($id: ID!) { node(id: $id) { ... on AppPurchaseOneTime { id status name price { amount currencyCode } test createdAt } } }',
      { id },
    );
    expect(read.node).toMatchObject({ status: 'ACTIVE', price: { amount: '10.00', currencyCode: 'USD' } });
  });

  it('a refused token is AdminUnauthorizedError; an unknown operation is AdminGraphqlError', async () => {
    const client = createAdminGraphqlClient({ adminUrlTemplate: fake.adminUrlTemplate, apiVersion: '2026-10' });
    await expect(client.request(shop, 'shpat_wrong', 'query { shop { id } }')).rejects.toMatchObject({ name: 'AdminUnauthorizedError' });
    await expect(client.request(shop, token, 'query { shop { id } }')).rejects.toBeInstanceOf(AdminGraphqlError);
    await expect(client.request('evil.com', token, 'query { shop { id } }')).rejects.toThrow();
  });
});
