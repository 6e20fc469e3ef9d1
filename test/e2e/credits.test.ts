import { queryRows } from '../../src/adapters/db/client.js';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credit } from '../../src/modules/ledger/ledger.js';
import { DB_KINDS } from '../helpers/db.js';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';

const FRONT = 'https://dash.example.com';

describe.each(DB_KINDS)('credits in sandbox mode on %s', (db) => {
  let t: TestApp;
  let cookie: string;
  const shop = 'buyer.myshopify.com';

  beforeAll(async () => {
    t = await createTestApp({ db, env: { FRONTEND_URL: FRONT, BACKEND_URL: 'https://api.example.com' } });
    ({ cookie } = await devLogin(t.app, shop));
  });
  afterAll(() => t.close());

  const checkout = (body: unknown, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: 'POST',
      url: '/credits/checkout',
      headers: { cookie, 'content-type': 'application/json', ...headers },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('lists the four default plans', async () => {
    const res = await t.app.inject('/credits/plans');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      plans: [
        { id: '100', credits: 100, price: '10.00', currency: 'USD' },
        { id: '500', credits: 500, price: '45.00', currency: 'USD' },
        { id: '1000', credits: 1000, price: '75.00', currency: 'USD' },
        { id: '5000', credits: 5000, price: '300.00', currency: 'USD' },
      ],
    });
  });

  it('buys the 100 plan: checkout, confirm, dashboard, balance and transaction; replays add nothing', async () => {
    const res = await checkout({ planId: '100' });
    expect(res.statusCode).toBe(200);
    const { confirmationUrl } = res.json() as { confirmationUrl: string };
    const url = new URL(confirmationUrl);
    expect(url.origin + url.pathname).toBe('https://api.example.com/credits/confirm');
    expect(url.searchParams.get('planId')).toBe('100');
    expect(url.searchParams.get('purchaseId')).toMatch(/^[0-9a-f-]{36}$/);

    const confirm = await t.app.inject(url.pathname + url.search);
    expect(confirm.statusCode).toBe(302);
    expect(confirm.headers.location).toBe(`${FRONT}/dashboard?credits_added=100`);
    expect((await t.app.inject({ url: '/credits/me', headers: { cookie } })).json()).toEqual({ credits: 110 });

    const replays = await Promise.all(Array.from({ length: 20 }, () => t.app.inject(url.pathname + url.search)));
    for (const r of replays) expect(r.statusCode).toBe(302);
    expect((await t.app.inject({ url: '/credits/me', headers: { cookie } })).json()).toEqual({ credits: 110 });

    const tx = (await t.app.inject({ url: '/credits/transactions', headers: { cookie } })).json() as {
      transactions: Array<{ delta: number; reason: string; reference: string; balance_after: number }>;
    };
    expect(tx.transactions.map((r) => [r.reason, r.delta, r.balance_after])).toEqual([
      ['purchase', 100, 110],
      ['grant', 10, 10],
    ]);
    expect(tx.transactions[0]!.reference).toBe(url.searchParams.get('purchaseId'));
  });

  it.each([
    [{ planId: '42' }, 400, 'UNKNOWN_PLAN'],
    [{ planId: 100 }, 400, 'VALIDATION_FAILED'],
    [{ planId: ['100'] }, 400, 'VALIDATION_FAILED'],
    [{ planId: null }, 400, 'VALIDATION_FAILED'],
    [{}, 400, 'VALIDATION_FAILED'],
    [{ planId: '100', sandbox: true }, 400, 'VALIDATION_FAILED'],
    ['{"planId": "100"', 400, 'INVALID_JSON'],
    ['[]', 400, 'VALIDATION_FAILED'],
  ])('checkout refuses %j with %i %s', async (body, status, code) => {
    const res = await checkout(body);
    expect(res.statusCode).toBe(status);
    expect((res.json() as { code: string }).code).toBe(code);
  });

  it('checkout refuses a wrong content type, an oversized body and a missing session', async () => {
    const form = await checkout('planId=100', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.statusCode).toBe(415);
    expect((form.json() as { code: string }).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const big = await checkout({ planId: 'x'.repeat(2 * 1024 * 1024) });
    expect(big.statusCode).toBe(413);
    expect((big.json() as { code: string }).code).toBe('PAYLOAD_TOO_LARGE');
    const anon = await t.app.inject({ method: 'POST', url: '/credits/checkout', payload: { planId: '100' } });
    expect(anon.statusCode).toBe(401);
  });

  it('confirm refuses a purchase id never created, a malformed one, and a planId that disagrees', async () => {
    const before = (await t.app.inject({ url: '/credits/me', headers: { cookie } })).json();
    const never = await t.app.inject('/credits/confirm?planId=100&purchaseId=2b1a3f4e-0000-4000-8000-000000000000');
    expect(never.statusCode).toBe(404);
    const malformed = await t.app.inject("/credits/confirm?planId=100&purchaseId=1'%20or%201=1");
    expect(malformed.statusCode).toBe(404);
    const missing = await t.app.inject('/credits/confirm?planId=100');
    expect(missing.statusCode).toBe(400);

    const { confirmationUrl } = (await checkout({ planId: '500' })).json() as { confirmationUrl: string };
    const url = new URL(confirmationUrl);
    url.searchParams.set('planId', '5000');
    const mismatch = await t.app.inject(url.pathname + url.search);
    expect(mismatch.statusCode).toBe(400);
    expect((mismatch.json() as { code: string }).code).toBe('PLAN_MISMATCH');
    expect((await t.app.inject({ url: '/credits/me', headers: { cookie } })).json()).toEqual(before);
  });

  it('a purchase credits only the shop that created it', async () => {
    const other = await devLogin(t.app, 'other-buyer.myshopify.com');
    const { confirmationUrl } = (await checkout({ planId: '100' }, { cookie: other.cookie })).json() as {
      confirmationUrl: string;
    };
    const before = (await t.app.inject({ url: '/credits/me', headers: { cookie } })).json() as { credits: number };
    const url = new URL(confirmationUrl);
    // The confirm URL is visited with the first shop's cookie: the credit still goes to the buyer.
    await t.app.inject({ url: url.pathname + url.search, headers: { cookie } });
    expect((await t.app.inject({ url: '/credits/me', headers: { cookie } })).json()).toEqual(before);
    expect((await t.app.inject({ url: '/credits/me', headers: { cookie: other.cookie } })).json()).toEqual({
      credits: 110,
    });
  });

  it('pages through the ledger with cursors, without gaps or repeats', async () => {
    const pager = 'pager.myshopify.com';
    const { cookie: pc } = await devLogin(t.app, pager);
    for (let i = 0; i < 7; i++) {
      await credit(t.container.db, { shop: pager, reason: 'adjustment', reference: `adj-${i}` }, 1);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : '';
      const page = (await t.app.inject({ url: `/credits/transactions?limit=3${q}`, headers: { cookie: pc } })).json() as {
        transactions: Array<{ reference: string }>;
        next_cursor: string | null;
      };
      expect(page.transactions.length).toBeLessThanOrEqual(3);
      seen.push(...page.transactions.map((r) => r.reference));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(8);
    expect(new Set(seen).size).toBe(8);
    expect(seen.at(-1)).toBe('first-install');
  });

  it.each(['garbage', 'W10', Buffer.from('["x","y"]').toString('base64url')])('refuses the cursor %j', async (cursor) => {
    const res = await t.app.inject({ url: `/credits/transactions?cursor=${cursor}`, headers: { cookie } });
    expect(res.statusCode).toBe(400);
    expect((res.json() as { code: string }).code).toBe('INVALID_CURSOR');
  });

  it('refuses limits outside 1..500', async () => {
    for (const limit of ['0', '501', 'abc', '-1']) {
      const res = await t.app.inject({ url: `/credits/transactions?limit=${limit}`, headers: { cookie } });
      expect(res.statusCode).toBe(400);
    }
  });

  it('keeps the balance equal to the sum of the ledger', async () => {
    const result = await queryRows<{ balance: number; total: number }>(
      t.container.db,
      sql`select c.shop, c.balance, coalesce(sum(t.delta), 0)::int as total
        from shop_credits c left join credit_transactions t on t.shop = c.shop
        group by c.shop, c.balance`,
    );
    expect(result.length).toBeGreaterThan(2);
    for (const row of result) expect(row.total).toBe(row.balance);
  });
});
