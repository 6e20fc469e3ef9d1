import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, queryRows } from '../../src/adapters/db/client.js';
import { InsufficientCreditsError, InvalidInputError } from '../../src/lib/errors.js';
import { balanceOf, credit, debit, MAX_ENTRY_AMOUNT, refund } from '../../src/modules/ledger/ledger.js';
import { installShop } from '../../src/modules/shops/shops.js';
import { DB_KINDS, openTestDatabase } from '../helpers/db.js';

async function ledgerSum(database: Database, shop: string): Promise<number> {
  const [result] = await queryRows<{ total: number }>(
    database.db,
    sql`select coalesce(sum(delta), 0)::int as total from credit_transactions where shop = ${shop}`,
  );
  return result!.total;
}

describe.each(DB_KINDS)('ledger on %s', (kind) => {
  let database: Database;
  let n = 0;
  /** A freshly installed shop with `balance` credits (the free grant). */
  async function shopWith(balance: number): Promise<string> {
    const shop = `ledger-${++n}.myshopify.com`;
    await installShop(database.db, shop, balance);
    return shop;
  }

  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(() => database.close());

  it('200 concurrent debits against a balance of 50: exactly 50 succeed and the ledger sums to 0', async () => {
    const shop = await shopWith(50);
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) =>
        database.db.transaction((tx) => debit(tx, { shop, reference: `img-${i}` }, 1)),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(ok).toHaveLength(50);
    expect(refused).toHaveLength(150);
    for (const r of refused) {
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(InsufficientCreditsError);
      expect(((r as PromiseRejectedResult).reason as InsufficientCreditsError).remaining).toBe(0);
    }
    expect(await balanceOf(database.db, shop)).toBe(0);
    expect(await ledgerSum(database, shop)).toBe(0);
  });

  it('the same reference applies once, however many times it races', async () => {
    const shop = await shopWith(0);
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        database.db.transaction((tx) => credit(tx, { shop, reason: 'purchase', reference: 'gid://p/1' }, 100)),
      ),
    );
    expect(results.filter((r) => r.applied)).toHaveLength(1);
    expect(await balanceOf(database.db, shop)).toBe(100);
    expect(await ledgerSum(database, shop)).toBe(100);
  });

  it('a refund happens once per image and records balance_after', async () => {
    const shop = await shopWith(3);
    await debit(database.db, { shop, reference: 'img-a' }, 1);
    const first = await refund(database.db, shop, 'img-a', 1);
    const second = await refund(database.db, shop, 'img-a', 1);
    expect(first).toMatchObject({ applied: true, balanceAfter: 3 });
    expect(second).toEqual({ applied: false, reason: 'duplicate' });
    expect(await balanceOf(database.db, shop)).toBe(3);
  });

  it.each([0, -1, -50, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_ENTRY_AMOUNT + 1, 2 ** 31])(
    'refuses the amount %s and changes nothing',
    async (amount) => {
      const shop = await shopWith(10);
      await expect(credit(database.db, { shop, reason: 'adjustment', reference: 'x' }, amount)).rejects.toBeInstanceOf(
        InvalidInputError,
      );
      await expect(debit(database.db, { shop, reference: 'y' }, amount)).rejects.toBeInstanceOf(InvalidInputError);
      expect(await balanceOf(database.db, shop)).toBe(10);
      expect(await ledgerSum(database, shop)).toBe(10);
    },
  );

  it('a failed debit inside a transaction leaves the transaction usable', async () => {
    const shop = await shopWith(1);
    await database.db.transaction(async (tx) => {
      await debit(tx, { shop, reference: 'ok' }, 1);
      await expect(debit(tx, { shop, reference: 'too-many' }, 1)).rejects.toBeInstanceOf(InsufficientCreditsError);
      await expect(debit(tx, { shop, reference: 'ok' }, 1)).resolves.toEqual({ applied: false, reason: 'duplicate' });
    });
    expect(await balanceOf(database.db, shop)).toBe(0);
    expect(await ledgerSum(database, shop)).toBe(0);
  });

  it('uninstall then reinstall grants nothing more', async () => {
    const shop = await shopWith(10);
    await database.db.execute(sql`update shops set uninstalled_at = now() where domain = ${shop}`);
    const again = await installShop(database.db, shop, 10);
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => installShop(database.db, shop, 10)));
    expect(again.firstInstall).toBe(false);
    expect(concurrent.every((r) => !r.firstInstall)).toBe(true);
    expect(await balanceOf(database.db, shop)).toBe(10);
  });
});
