import { queryRows } from '../../src/adapters/db/client.js';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenCipher } from '../../src/lib/token-cipher.js';
import { DB_KINDS } from '../helpers/db.js';
import {
  API_KEY,
  API_SECRET,
  BACKEND_URL,
  createShopifyTestApp,
  FRONTEND_URL,
  rs256WithSecretAsKey,
  TOKEN_KEY,
} from '../helpers/shopify.js';
import type { TestApp } from '../helpers/app.js';
import type { FakeShopify } from '../fakes/shopify.js';
import { nowS, shopifyClaims, unsignedToken } from '../helpers/tokens.js';

type Res = { statusCode: number; json(): unknown; headers: Record<string, unknown>; cookies: Array<{ name: string; value: string }> };

function expect4xx(res: Res, status?: number) {
  if (status) expect(res.statusCode).toBe(status);
  expect(res.statusCode).toBeGreaterThanOrEqual(400);
  expect(res.statusCode).toBeLessThan(500);
  const body = res.json() as { error: unknown; code: string };
  expect(body.code).toMatch(/^[A-Z_]+$/);
  expect(body.error).toBeTruthy();
}

describe.each(DB_KINDS)('Shopify install on %s', (db) => {
  let t: TestApp;
  let fake: FakeShopify;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ t, fake, close } = await createShopifyTestApp(db));
  });
  afterAll(() => close());

  const count = async (table: string, shop?: string) => {
    const where = shop ? sql` where ${sql.raw(table === 'shops' ? 'domain' : 'shop')} = ${shop}` : sql``;
    const [r] = await queryRows<{ n: number }>(t.container.db, sql`select count(*)::int as n from ${sql.raw(table)}${where}`);
    return Number(r!.n);
  };
  const shopRow = async (shop: string) => {
    const [row] = await queryRows<Record<string, unknown>>(t.container.db, sql`select * from shops where domain = ${shop}`);
    return row;
  };
  const credits = async (headers: Record<string, string>) => t.app.inject({ url: '/credits/me', headers });

  /** /auth/oauth as a browser: the state nonce (from the authorize URL) and the state cookie. */
  async function startOauth(shop: string) {
    const res = await t.app.inject(`/auth/oauth?shop=${shop}&host=aG9zdA`);
    expect(res.statusCode).toBe(302);
    const location = new URL(String(res.headers.location));
    const cookie = res.cookies.find((c) => c.name === 'shopify_oauth_state')!;
    return { location, state: location.searchParams.get('state')!, cookie: `shopify_oauth_state=${cookie.value}`, rawCookie: cookie };
  }

  async function completeOauth(shop: string) {
    const { state, cookie } = await startOauth(shop);
    const query = fake.callbackQuery(shop, { state, code: fake.issueCode(shop) });
    return { res: await t.app.inject({ url: `/auth/callback?${query}`, headers: { cookie } }), query, cookie };
  }

  it('/auth/install redirects to the dashboard top-level page only', async () => {
    const res = await t.app.inject('/auth/install?shop=Install.myshopify.com&host=aG9zdA');
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(`${FRONTEND_URL}/auth/toplevel?shop=install.myshopify.com&host=aG9zdA`);
    expect4xx(await t.app.inject('/auth/install?shop=evil.com'), 400);
    expect4xx(await t.app.inject('/auth/install'), 400);
  });

  it('/auth/oauth redirects to https://{shop}/admin/oauth/authorize with a nonce kept in a signed HttpOnly cookie', async () => {
    const { location, state, rawCookie } = await startOauth('oauth.myshopify.com');
    expect(location.origin).toBe('https://oauth.myshopify.com');
    expect(location.pathname).toBe('/admin/oauth/authorize');
    expect(location.searchParams.get('client_id')).toBe(API_KEY);
    expect(location.searchParams.get('scope')).toBe('read_products,write_products,read_files,write_files');
    expect(location.searchParams.get('redirect_uri')).toBe(`${BACKEND_URL}/auth/callback`);
    expect(state).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(rawCookie).toMatchObject({ httpOnly: true, secure: true, maxAge: 600 });
    const second = await startOauth('oauth.myshopify.com');
    expect(second.state).not.toBe(state);
    for (const bad of ['evil.com', 'oauth.myshopify.com.evil.com', 'oauth.myshopify.com%2F', 'oauth.myshopify.com%3A443', 'u%40oauth.myshopify.com']) {
      expect4xx(await t.app.inject(`/auth/oauth?shop=${bad}`), 400);
    }
  });

  it('a full code-grant install stores an encrypted token, grants 10 credits once, calls no Admin API', async () => {
    const shop = 'codegrant.myshopify.com';
    const graphqlCalls = fake.calls.graphql;
    const { res } = await completeOauth(shop);
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(`${FRONTEND_URL}/dashboard`);
    const cookies = Object.fromEntries(res.cookies.map((c) => [c.name, c]));
    expect(cookies.session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'None', path: '/' });
    expect(cookies.shop).toMatchObject({ value: shop, secure: true, sameSite: 'None' });
    expect(cookies.host!.value).toBe('aG9zdA');

    const row = (await shopRow(shop))!;
    const issued = fake.accessTokens(shop);
    expect(issued).toHaveLength(1);
    expect(String(row.access_token_enc)).toMatch(/^v1\./);
    expect(String(row.access_token_enc)).not.toContain(issued[0]);
    const cipher = createTokenCipher(TOKEN_KEY);
    expect(cipher.decrypt(String(row.access_token_enc), shop)).toBe(issued[0]);
    expect(cipher.decrypt(String(row.refresh_token_enc), shop)).toBe(fake.refreshTokens(shop)[0]);
    expect(() => cipher.decrypt(String(row.access_token_enc), 'other.myshopify.com')).toThrow();
    expect(new Date(String(row.access_token_expires_at)).getTime()).toBeGreaterThan(Date.now() + 50 * 60_000);

    // Webhook subscriptions come from shopify.app.toml: nothing is registered by API.
    expect(fake.calls.graphql).toBe(graphqlCalls);

    // The app works with the cookie...
    const cookie = `session=${cookies.session!.value}`;
    expect((await credits({ cookie })).json()).toEqual({ credits: 10 });
    // ...and with a session token (no token exchange needed: the token is stored).
    const exchanges = fake.calls.tokenExchange;
    const bearer = await fake.signSessionToken(shop);
    expect((await credits({ authorization: `Bearer ${bearer}` })).json()).toEqual({ credits: 10 });
    expect(fake.calls.tokenExchange).toBe(exchanges);

    // A reinstall: no second grant.
    const again = await completeOauth(shop);
    expect(again.res.statusCode).toBe(302);
    expect((await credits({ cookie })).json()).toEqual({ credits: 10 });
    expect(await count('credit_transactions', shop)).toBe(1);
    // Tokens never appear in an answer.
    const me = await t.app.inject({ url: '/me', headers: { cookie } });
    for (const token of fake.accessTokens(shop)) expect(me.body).not.toContain(token);
  });

  it('a first load with a session token installs by token exchange: encrypted token, 10 credits once, no Admin API call', async () => {
    const shop = 'exchange.myshopify.com';
    const before = fake.calls.tokenExchange;
    const graphqlCalls = fake.calls.graphql;
    const bearer = await fake.signSessionToken(shop);
    const res = await credits({ authorization: `Bearer ${bearer}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ credits: 10 });
    expect(fake.calls.tokenExchange).toBe(before + 1);
    const row = (await shopRow(shop))!;
    expect(createTokenCipher(TOKEN_KEY).decrypt(String(row.access_token_enc), shop)).toBe(fake.accessTokens(shop)[0]);
    expect(new Date(String(row.refresh_token_expires_at)).getTime()).toBeGreaterThan(Date.now() + 89 * 86_400_000);
    expect(fake.calls.graphql).toBe(graphqlCalls);
    // Later requests use the stored token.
    const me = await t.app.inject({ url: '/me', headers: { authorization: `Bearer ${await fake.signSessionToken(shop)}` } });
    expect(me.json()).toMatchObject({ shop, credits: 10 });
    expect(fake.calls.tokenExchange).toBe(before + 1);
    // Concurrent first loads of another shop exchange once.
    const other = 'exchange2.myshopify.com';
    const tokens = await Promise.all([1, 2, 3].map(() => fake.signSessionToken(other)));
    const answers = await Promise.all(tokens.map((tk) => credits({ authorization: `Bearer ${tk}` })));
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
    expect(fake.calls.tokenExchange).toBe(before + 2);
    expect(await count('credit_transactions', other)).toBe(1);
  });

  describe('callback attacks are refused with a 4xx and change nothing', () => {
    const shop = 'victim.myshopify.com';
    let snapshot: { shops: number; tx: number; codeGrant: number };
    const snap = async () => ({ shops: await count('shops'), tx: await count('credit_transactions'), codeGrant: fake.calls.codeGrant });

    const callback = async (query: string, cookie?: string) =>
      t.app.inject({ url: `/auth/callback?${query}`, headers: cookie ? { cookie } : {} });

    const signed = (params: Record<string, string>) => new URLSearchParams({ ...params, hmac: fake.signQuery(params) }).toString();
    const baseParams = async () => {
      const { state, cookie } = await startOauth(shop);
      const params = { code: fake.issueCode(shop), host: 'aG9zdA', shop, state, timestamp: String(nowS()) };
      return { params, cookie, state };
    };

    beforeAll(async () => {
      snapshot = await snap();
    });

    const cases: Array<[string, () => Promise<{ query: string; cookie?: string }>]> = [
      ['a forged HMAC', async () => {
        const { params, cookie } = await baseParams();
        return { query: new URLSearchParams({ ...params, hmac: 'ab'.repeat(32) }).toString(), cookie };
      }],
      ['a missing HMAC', async () => {
        const { params, cookie } = await baseParams();
        return { query: new URLSearchParams(params).toString(), cookie };
      }],
      ['a truncated HMAC', async () => {
        const { params, cookie } = await baseParams();
        return { query: new URLSearchParams({ ...params, hmac: fake.signQuery(params).slice(0, 40) }).toString(), cookie };
      }],
      ['an HMAC computed with another secret', async () => {
        const { params, cookie } = await baseParams();
        const { createHmac } = await import('node:crypto');
        const message = new URLSearchParams(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : 1))).toString();
        return { query: new URLSearchParams({ ...params, hmac: createHmac('sha256', 'another-secret').update(message).digest('hex') }).toString(), cookie };
      }],
      ['a tampered parameter under a valid HMAC', async () => {
        const { params, cookie } = await baseParams();
        const q = new URLSearchParams({ ...params, hmac: fake.signQuery(params) });
        q.set('code', fake.issueCode(shop));
        return { query: q.toString(), cookie };
      }],
      ['a missing state', async () => {
        const { params, cookie } = await baseParams();
        const { state: _s, ...rest } = params;
        return { query: signed(rest), cookie };
      }],
      ['a state without its cookie (another browser)', async () => {
        const { params } = await baseParams();
        return { query: signed(params) };
      }],
      ['a state from another browser (cookie of another flow)', async () => {
        const { params } = await baseParams();
        const otherBrowser = await startOauth(shop);
        return { query: signed(params), cookie: otherBrowser.cookie };
      }],
      ['a forged state cookie', async () => {
        const { params } = await baseParams();
        return { query: signed(params), cookie: `shopify_oauth_state=${unsignedToken({ nonce: params.state, shop, host: 'x', exp: nowS() + 60 })}` };
      }],
      ['a state cookie issued for another shop', async () => {
        const { params } = await baseParams();
        const other = await startOauth('other.myshopify.com');
        return { query: signed({ ...params, state: other.state }), cookie: other.cookie };
      }],
      ['a timestamp 2 days old', async () => {
        const { params, cookie } = await baseParams();
        return { query: signed({ ...params, timestamp: String(nowS() - 2 * 86400) }), cookie };
      }],
      ['a timestamp 2 minutes old (the library allows 90 s)', async () => {
        const { params, cookie } = await baseParams();
        return { query: signed({ ...params, timestamp: String(nowS() - 120) }), cookie };
      }],
      ['a timestamp 2 days ahead', async () => {
        const { params, cookie } = await baseParams();
        return { query: signed({ ...params, timestamp: String(nowS() + 2 * 86400) }), cookie };
      }],
      ['a missing code', async () => {
        const { params, cookie } = await baseParams();
        const { code: _c, ...rest } = params;
        return { query: signed(rest), cookie };
      }],
      ['an unknown code (refused by Shopify)', async () => {
        const { params, cookie } = await baseParams();
        return { query: signed({ ...params, code: 'deadbeef' }), cookie };
      }],
      ...['evil.com', 'victim.myshopify.com.evil.com', 'VICTIM.myshopify.com', 'victim.myshopify.com/', 'victim.myshopify.com:443', 'user@victim.myshopify.com', 'user:pw@victim.myshopify.com'].map(
        (bad) =>
          [`the shop ${bad} (validly signed)`, async () => {
            const { params, cookie } = await baseParams();
            return { query: signed({ ...params, shop: bad }), cookie };
          }] as [string, () => Promise<{ query: string; cookie?: string }>],
      ),
    ];

    it.each(cases)('%s', async (_name, make) => {
      const { query, cookie } = await make();
      const before = await snap();
      const res = await callback(query, cookie);
      expect4xx(res);
      expect(res.headers.location).toBeUndefined();
      expect(res.cookies.find((c) => c.name === 'session')).toBeUndefined();
      const after = await snap();
      expect(after.shops).toBe(before.shops);
      expect(after.tx).toBe(before.tx);
      if (!_name.startsWith('an unknown code')) expect(after.codeGrant).toBe(before.codeGrant);
      expect(await shopRow(shop)).toBeUndefined();
    });

    it('a reused state (replayed callback) is refused and changes nothing', async () => {
      const s = 'replay.myshopify.com';
      const { res, query, cookie } = await completeOauth(s);
      expect(res.statusCode).toBe(302);
      const before = await snap();
      const row = await shopRow(s);
      const replay = await callback(query, cookie);
      expect4xx(replay, 401);
      expect(await snap()).toEqual(before);
      expect(await shopRow(s)).toEqual(row);
    });

    it('nothing was stored by any refused callback', async () => {
      expect(await shopRow(shop)).toBeUndefined();
      expect(snapshot.shops).toBeGreaterThan(0);
    });
  });

  describe('session token attacks are refused with 401 and change nothing', () => {
    const shop = 'tokenattack.myshopify.com';
    const cases: Array<[string, () => Promise<string>]> = [
      ['another aud', () => fake.signSessionToken(shop, { aud: 'another-app' })],
      ['another shop in dest than in iss', () => fake.signSessionToken(shop, { dest: 'https://other.myshopify.com' })],
      ['another shop in iss than in dest', () => fake.signSessionToken(shop, { iss: 'https://other.myshopify.com/admin' })],
      ['no exp', () => fake.signSessionToken(shop, { exp: undefined })],
      ['an invalid shop', () => fake.signSessionToken(shop, { iss: 'https://evil.com/admin', dest: 'https://evil.com' })],
      ['a shop with a port', () => fake.signSessionToken(shop, { iss: `https://${shop}:443/admin`, dest: `https://${shop}:443` })],
      ['expired', () => fake.signSessionToken(shop, { exp: nowS() - 60 })],
      ['not yet valid', () => fake.signSessionToken(shop, { nbf: nowS() + 120 })],
      ['alg none', async () => unsignedToken(shopifyClaims(shop, API_KEY))],
      ['RS256 signed with the secret as a public key', async () => rs256WithSecretAsKey(shopifyClaims(shop, API_KEY), API_SECRET)],
    ];
    it.each(cases)('%s', async (_name, make) => {
      const before = { exchange: fake.calls.tokenExchange, shops: await count('shops') };
      const res = await t.app.inject({ url: '/me', headers: { authorization: `Bearer ${await make()}` } });
      expect4xx(res, 401);
      expect(fake.calls.tokenExchange).toBe(before.exchange);
      expect(await count('shops')).toBe(before.shops);
    });
  });
});

describe('local mode', () => {
  it('has no OAuth routes (404) but /auth/install still redirects', async () => {
    const { createTestApp } = await import('../helpers/app.js');
    const t = await createTestApp();
    try {
      expect((await t.app.inject('/auth/oauth?shop=a.myshopify.com')).statusCode).toBe(404);
      expect((await t.app.inject('/auth/callback?shop=a.myshopify.com')).statusCode).toBe(404);
      expect((await t.app.inject('/auth/install?shop=a.myshopify.com')).statusCode).toBe(302);
    } finally {
      await t.close();
    }
  });
});
