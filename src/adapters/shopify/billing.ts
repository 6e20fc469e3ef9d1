import { InvalidInputError } from '../../lib/errors.js';
import type { BillingGateway, PurchaseStatus } from '../../modules/ledger/purchases.js';
import type { ShopGraphql } from './admin-graphql.js';

const CREATE = `mutation appPurchaseOneTimeCreate($name: String!, $price: MoneyInput!, $returnUrl: URL!, $test: Boolean) {
  appPurchaseOneTimeCreate(name: $name, price: $price, returnUrl: $returnUrl, test: $test) {
    appPurchaseOneTime { id status }
    confirmationUrl
    userErrors { field message }
  }
}`;

const QUERY = `query appPurchase($id: ID!) {
  node(id: $id) {
    ... on AppPurchaseOneTime { id status name price { amount currencyCode } test createdAt }
  }
}`;

const STATUSES: readonly PurchaseStatus[] = ['ACTIVE', 'PENDING', 'DECLINED', 'EXPIRED'];

interface CreateAnswer {
  appPurchaseOneTimeCreate: {
    appPurchaseOneTime: { id: string; status: string } | null;
    confirmationUrl: string | null;
    userErrors: Array<{ field?: string[]; message: string }>;
  };
}

interface NodeAnswer {
  node: { id: string; status: string; price?: { amount: string; currencyCode: string }; test?: boolean } | null;
}

/**
 * One-time purchases through the Admin GraphQL API (throttling and token
 * refresh are handled by `graphql`). Not the library's billing helpers: its
 * `billing.request` runs on its own GraphQL client (no refresh after a 401,
 * no wait on THROTTLED) and `billing.check` finds purchases by name, while a
 * credit needs this purchase's own status, price and test flag, by id.
 */
export function createShopifyBilling(graphql: ShopGraphql): BillingGateway {
  return {
    async createPurchase(shop, input) {
      const answer = await graphql<CreateAnswer>(shop, CREATE, {
        name: input.name,
        price: { amount: input.amount, currencyCode: input.currencyCode },
        returnUrl: input.returnUrl,
        test: input.test,
      });
      const result = answer.appPurchaseOneTimeCreate;
      if (result.userErrors.length || !result.appPurchaseOneTime || !result.confirmationUrl) {
        throw new InvalidInputError(
          `Shopify refused the purchase: ${result.userErrors.map((e) => e.message).join('; ') || 'no confirmation URL'}`,
          'BILLING_REFUSED',
        );
      }
      if (!/^https:\/\//.test(result.confirmationUrl) && !/^http:\/\/127\.0\.0\.1[:/]/.test(result.confirmationUrl)) {
        throw new InvalidInputError('Shopify answered an unexpected confirmation URL', 'BILLING_REFUSED');
      }
      return { purchaseGid: result.appPurchaseOneTime.id, confirmationUrl: result.confirmationUrl };
    },

    async getPurchase(shop, purchaseGid) {
      const { node } = await graphql<NodeAnswer>(shop, QUERY, { id: purchaseGid });
      if (!node || node.id !== purchaseGid || !node.price) return null;
      const status = STATUSES.find((s) => s === node.status);
      if (!status) return null;
      return { status, amount: String(node.price.amount), currencyCode: node.price.currencyCode, test: node.test === true };
    },
  };
}
