import { and, eq, isNotNull, lt, sql } from 'drizzle-orm';
import type { Db } from '../../adapters/db/client.js';
import { creditPending } from '../../adapters/db/schema.js';
import type { Plan } from '../../config/load.js';
import { InvalidInputError, NotFoundError } from '../../lib/errors.js';
import { credit } from './ledger.js';

export type PurchaseStatus = 'ACTIVE' | 'PENDING' | 'DECLINED' | 'EXPIRED';

/** What Shopify's billing API does for us; the Shopify adapter implements it. */
export interface BillingGateway {
  createPurchase(
    shop: string,
    input: { name: string; amount: string; currencyCode: string; returnUrl: string; test: boolean },
  ): Promise<{ purchaseGid: string; confirmationUrl: string }>;
  /** Null when Shopify does not know the id (for this shop). `test`: a test charge, no money moved. */
  getPurchase(
    shop: string,
    purchaseGid: string,
  ): Promise<{ status: PurchaseStatus; amount: string; currencyCode: string; test: boolean } | null>;
}

export interface PurchaseDeps {
  db: Db;
  plans: Plan[];
  /** Server configuration only: no request can change it. */
  sandbox: boolean;
  /** Purchases are created as test charges, and only then may a test charge credit. */
  billingTest: boolean;
  /** Absent in local mode (sandbox only). */
  billing?: BillingGateway;
  /** Builds the URL Shopify (or the sandbox) sends the merchant back to. */
  confirmUrl(planId: string, pendingId: string): string;
  /** A purchase was credited (once per purchase). */
  onCredited?(credits: number): void;
  /** Reconciliation goes on past one failing purchase; this reports it. */
  onReconcileError?(pendingId: string, err: unknown): void;
}

export type SettleOutcome =
  | { outcome: 'credited'; credits: number; shop: string }
  | { outcome: 'already_credited'; credits: number; shop: string }
  | { outcome: 'pending'; shop: string }
  | { outcome: 'declined'; shop: string };

export function findPlan(plans: Plan[], planId: string): Plan {
  const plan = plans.find((p) => p.id === planId);
  if (!plan) throw new InvalidInputError(`Unknown plan "${planId.slice(0, 64)}"`, 'UNKNOWN_PLAN');
  return plan;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Cents as an integer: money is compared exactly, never as floats. */
function cents(amount: string | number): number | null {
  const m = /^(\d{1,12})(?:\.(\d{1,2})\d*)?$/.exec(String(amount).trim());
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
}

export function createPurchases(deps: PurchaseDeps) {
  /** A pending purchase bound to the shop, and the URL where the merchant approves it. */
  async function checkout(shop: string, planId: string): Promise<{ confirmationUrl: string; pendingId: string }> {
    const plan = findPlan(deps.plans, planId);
    const [row] = await deps.db
      .insert(creditPending)
      .values({
        shop,
        planId: plan.id,
        credits: plan.credits,
        price: plan.price,
        currency: plan.currency,
        sandbox: deps.sandbox,
      })
      .returning({ id: creditPending.id });
    const pendingId = row!.id;
    const returnUrl = deps.confirmUrl(plan.id, pendingId);
    // `sandbox=true` tells the legacy dashboard to keep the purchase in its frame; the server never reads it.
    if (deps.sandbox) return { confirmationUrl: `${returnUrl}&sandbox=true`, pendingId };

    if (!deps.billing) throw new Error('billing gateway missing with sandbox off');
    const created = await deps.billing.createPurchase(shop, {
      name: `${plan.credits} image credits`,
      amount: plan.price,
      currencyCode: plan.currency,
      returnUrl,
      test: deps.billingTest,
    });
    await deps.db
      .update(creditPending)
      .set({ purchaseGid: created.purchaseGid, updatedAt: new Date() })
      .where(eq(creditPending.id, pendingId));
    return { confirmationUrl: created.confirmationUrl, pendingId };
  }

  /**
   * The one idempotent path that credits a purchase (confirm URL, webhook and
   * reconciliation all call it). Shopify is asked for the purchase's status
   * and price; the ledger's unique (shop, purchase, reference) makes a second
   * credit impossible however the callers race.
   */
  async function settle(pendingId: string): Promise<SettleOutcome> {
    if (!UUID_RE.test(pendingId)) throw new NotFoundError('Unknown purchase');
    const [row] = await deps.db.select().from(creditPending).where(eq(creditPending.id, pendingId));
    if (!row) throw new NotFoundError('Unknown purchase');
    const { shop } = row;
    if (row.status === 'credited') return { outcome: 'already_credited', credits: row.credits, shop };
    if (row.status === 'declined' || row.status === 'expired') return { outcome: 'declined', shop };

    let status: PurchaseStatus;
    if (row.sandbox) {
      // A sandbox row only pays while the server runs in sandbox mode.
      if (!deps.sandbox) throw new InvalidInputError('Sandbox purchases are disabled', 'SANDBOX_DISABLED');
      status = 'ACTIVE';
    } else {
      if (!deps.billing || !row.purchaseGid) return { outcome: 'pending', shop };
      const purchase = await deps.billing.getPurchase(shop, row.purchaseGid);
      if (!purchase) throw new NotFoundError('Unknown purchase');
      if (purchase.status === 'ACTIVE') {
        const paid = cents(purchase.amount);
        if (paid === null || paid !== cents(row.price) || purchase.currencyCode !== row.currency) {
          throw new InvalidInputError('The purchase does not match its plan', 'PURCHASE_MISMATCH');
        }
        // A test charge moves no money: it credits only while the server bills in test mode.
        if (purchase.test && !deps.billingTest) {
          throw new InvalidInputError('A test purchase cannot add credits to this shop', 'TEST_PURCHASE');
        }
      }
      status = purchase.status;
    }

    if (status === 'PENDING') return { outcome: 'pending', shop };
    if (status === 'DECLINED' || status === 'EXPIRED') {
      await deps.db
        .update(creditPending)
        .set({ status: status === 'DECLINED' ? 'declined' : 'expired', updatedAt: new Date() })
        .where(and(eq(creditPending.id, row.id), eq(creditPending.status, 'pending')));
      return { outcome: 'declined', shop };
    }

    const settled = await deps.db.transaction(async (tx) => {
      const entry = await credit(tx, { shop, reason: 'purchase', reference: row.purchaseGid ?? row.id }, row.credits);
      await tx
        .update(creditPending)
        .set({ status: 'credited', updatedAt: new Date() })
        .where(eq(creditPending.id, row.id));
      return entry.applied
        ? { outcome: 'credited' as const, credits: row.credits, shop }
        : { outcome: 'already_credited' as const, credits: row.credits, shop };
    });
    if (settled.outcome === 'credited') deps.onCredited?.(row.credits);
    return settled;
  }

  /** compat GET /credits/confirm: the planId in the URL must agree with the pending row. */
  async function confirm(pendingId: string, planId: string | undefined): Promise<SettleOutcome> {
    if (!UUID_RE.test(pendingId)) throw new NotFoundError('Unknown purchase');
    const [row] = await deps.db
      .select({ planId: creditPending.planId })
      .from(creditPending)
      .where(eq(creditPending.id, pendingId));
    if (!row) throw new NotFoundError('Unknown purchase');
    if (planId !== undefined && planId !== row.planId) {
      throw new InvalidInputError('planId does not match the purchase', 'PLAN_MISMATCH');
    }
    return settle(pendingId);
  }

  /** The app_purchases_one_time/update webhook: find our row by Shopify's id, then settle it. */
  async function settleByPurchaseGid(shop: string, purchaseGid: string): Promise<SettleOutcome | null> {
    const [row] = await deps.db
      .select({ id: creditPending.id })
      .from(creditPending)
      .where(and(eq(creditPending.shop, shop), eq(creditPending.purchaseGid, purchaseGid)));
    return row ? settle(row.id) : null;
  }

  /** Settles pending Shopify purchases older than `minAgeMs` (a lost redirect or webhook). */
  async function reconcile(minAgeMs = 5 * 60_000, limit = 100): Promise<SettleOutcome[]> {
    const rows = await deps.db
      .select({ id: creditPending.id })
      .from(creditPending)
      .where(
        and(
          eq(creditPending.status, 'pending'),
          isNotNull(creditPending.purchaseGid),
          lt(creditPending.createdAt, sql`now() - make_interval(secs => ${minAgeMs / 1000})`),
        ),
      )
      .orderBy(creditPending.createdAt)
      .limit(limit);
    const outcomes: SettleOutcome[] = [];
    for (const row of rows) {
      try {
        outcomes.push(await settle(row.id));
      } catch (err) {
        // One bad purchase (mismatch, unknown to Shopify) must not stop the others; it stays pending.
        deps.onReconcileError?.(row.id, err);
      }
    }
    return outcomes;
  }

  return { checkout, settle, confirm, settleByPurchaseGid, reconcile };
}

export type Purchases = ReturnType<typeof createPurchases>;
