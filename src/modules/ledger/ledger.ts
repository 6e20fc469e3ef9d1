import { isUniqueViolation } from '../../adapters/db/errors.js';
import { and, eq, sql } from 'drizzle-orm';
import { type DbOrTx, queryRows } from '../../adapters/db/client.js';
import { afterKeyset, type Keyset, keysetAt, newestFirst } from '../../adapters/db/keyset.js';
import { creditTransactions, shopCredits } from '../../adapters/db/schema.js';
import { InsufficientCreditsError, InvalidInputError } from '../../lib/errors.js';

export type LedgerReason = 'grant' | 'purchase' | 'debit' | 'refund' | 'adjustment';

export interface LedgerEntry {
  shop: string;
  reason: LedgerReason;
  /** With shop and reason, makes the entry happen at most once (unique key). */
  reference: string;
}

export type LedgerResult =
  | { applied: true; transactionId: string; balanceAfter: number }
  | { applied: false; reason: 'duplicate' };

/** Bounds on one entry: anything outside is a bug upstream, never a balance change. */
export const MAX_ENTRY_AMOUNT = 1_000_000;

function checkAmount(amount: number): void {
  if (!Number.isSafeInteger(amount) || amount < 1 || amount > MAX_ENTRY_AMOUNT) {
    throw new InvalidInputError(`Credit amount must be an integer from 1 to ${MAX_ENTRY_AMOUNT}`, 'INVALID_AMOUNT');
  }
}

/**
 * Changes a balance and writes its ledger row in one statement, inside a
 * savepoint of the caller's transaction. The UPDATE re-checks `balance + delta
 * >= 0` on the latest row version, so concurrent debits can never overdraw;
 * a second entry with the same (shop, reason, reference) hits the unique key
 * and its balance change is rolled back with the savepoint.
 */
async function apply(db: DbOrTx, entry: LedgerEntry, delta: number): Promise<LedgerResult | null> {
  try {
    return await db.transaction(async (sp) => {
      const [row] = await queryRows<{ id: string; balance_after: number }>(
        sp,
        sql`
        with upd as (
          update shop_credits set balance = balance + ${delta}, updated_at = now()
          where shop = ${entry.shop} and balance + ${delta} >= 0
          returning balance
        )
        insert into credit_transactions (shop, delta, reason, reference, balance_after)
        select ${entry.shop}, ${delta}, ${entry.reason}, ${entry.reference}, balance from upd
        returning id, balance_after`,
      );
      if (row) return { applied: true as const, transactionId: row.id, balanceAfter: Number(row.balance_after) };
      // No balance change: a replay of an entry already made is a duplicate, not a shortage.
      const [done] = await sp
        .select({ id: creditTransactions.id })
        .from(creditTransactions)
        .where(
          and(
            eq(creditTransactions.shop, entry.shop),
            eq(creditTransactions.reason, entry.reason),
            eq(creditTransactions.reference, entry.reference),
          ),
        );
      return done ? { applied: false as const, reason: 'duplicate' as const } : null;
    });
  } catch (err) {
    if (isUniqueViolation(err)) return { applied: false, reason: 'duplicate' };
    throw err;
  }
}

/** Adds credits (grant, purchase, refund). Null never happens for a credit of an existing account. */
export async function credit(
  db: DbOrTx,
  entry: LedgerEntry & { reason: Exclude<LedgerReason, 'debit'> },
  amount: number,
): Promise<LedgerResult> {
  checkAmount(amount);
  const result = await apply(db, entry, amount);
  if (!result) throw new InvalidInputError(`No credit account for ${entry.shop}`, 'NO_ACCOUNT');
  return result;
}

/** Takes credits; InsufficientCreditsError when the balance would go below zero. */
export async function debit(db: DbOrTx, entry: Omit<LedgerEntry, 'reason'>, amount: number): Promise<LedgerResult> {
  checkAmount(amount);
  const result = await apply(db, { ...entry, reason: 'debit' }, -amount);
  if (!result) throw new InsufficientCreditsError(await balanceOf(db, entry.shop));
  return result;
}

/** Gives back a debit: at most once per reference (the image id). */
export function refund(db: DbOrTx, shop: string, reference: string, amount: number): Promise<LedgerResult> {
  return credit(db, { shop, reason: 'refund', reference }, amount);
}

/** Creates the (empty) account; harmless when it exists. */
export async function openAccount(db: DbOrTx, shop: string): Promise<void> {
  await db.insert(shopCredits).values({ shop, balance: 0 }).onConflictDoNothing();
}

export async function balanceOf(db: DbOrTx, shop: string): Promise<number> {
  const [row] = await db.select({ balance: shopCredits.balance }).from(shopCredits).where(eq(shopCredits.shop, shop));
  return row?.balance ?? 0;
}

export interface LedgerRow {
  id: string;
  delta: number;
  reason: string;
  reference: string;
  balanceAfter: number;
  createdAt: Date;
  /** created_at at full precision, for the next page's cursor. */
  at: string;
}

/** Newest first; the cursor is the last row's (created_at, id). */
export async function listTransactions(
  db: DbOrTx,
  shop: string,
  limit: number,
  after?: Keyset,
): Promise<LedgerRow[]> {
  const t = creditTransactions;
  return db
    .select({
      id: t.id,
      delta: t.delta,
      reason: t.reason,
      reference: t.reference,
      balanceAfter: t.balanceAfter,
      createdAt: t.createdAt,
      at: keysetAt(t.createdAt),
    })
    .from(t)
    .where(
      and(
        eq(t.shop, shop),
        after ? afterKeyset(t.createdAt, t.id, after) : undefined,
      ),
    )
    .orderBy(...newestFirst(t.createdAt, t.id))
    .limit(limit);
}
