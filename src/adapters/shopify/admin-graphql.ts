import { createAdminApiClient } from '@shopify/admin-api-client';
import { UnavailableError } from '../../lib/errors.js';
import { createShopifyFetch } from './fetch.js';

/**
 * Admin GraphQL through @shopify/admin-api-client. The library always builds
 * `https://{shop}/admin/api/{version}/graphql.json`; the shared Shopify fetch
 * sends it where SHOPIFY_ADMIN_URL_TEMPLATE says (identity in production, the
 * fake Shopify in tests). THROTTLED answers are retried after the wait that
 * `extensions.cost.throttleStatus` implies, a bounded number of times.
 */

export interface AdminGraphqlOptions {
  adminUrlTemplate: string;
  apiVersion: string;
  /** Retries after THROTTLED or HTTP 429 (default 3). */
  maxRetries?: number;
  /** Upper bound of one wait (default 10 s). */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Shopify answered 401: the access token is not (or no longer) valid. */
export class AdminUnauthorizedError extends Error {
  override name = 'AdminUnauthorizedError';
  constructor() {
    super('Shopify refused the access token');
  }
}

/** A GraphQL error that is not throttling (a bug in the query, or a permission missing). */
export class AdminGraphqlError extends Error {
  override name = 'AdminGraphqlError';
  constructor(
    message: string,
    readonly errors: unknown,
  ) {
    super(message);
  }
}

export interface AdminGraphqlClient {
  request<T = Record<string, unknown>>(
    shop: string,
    accessToken: string,
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<T>;
}

interface ThrottleStatus {
  maximumAvailable?: number;
  currentlyAvailable?: number;
  restoreRate?: number;
}

/** How long to wait before a throttled query has enough points again. */
export function throttleWaitMs(cost: { requestedQueryCost?: number; throttleStatus?: ThrottleStatus } | undefined, maxWaitMs: number): number {
  const status = cost?.throttleStatus;
  const requested = cost?.requestedQueryCost ?? 0;
  if (!status || !status.restoreRate || status.restoreRate <= 0) return Math.min(1000, maxWaitMs);
  const missing = Math.max(0, requested - (status.currentlyAvailable ?? 0));
  return Math.min(maxWaitMs, Math.max(50, Math.ceil((missing / status.restoreRate) * 1000)));
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function createAdminGraphqlClient(options: AdminGraphqlOptions): AdminGraphqlClient {
  const maxRetries = options.maxRetries ?? 3;
  const maxWaitMs = options.maxWaitMs ?? 10_000;
  const sleep = options.sleep ?? defaultSleep;
  const shopifyFetch = createShopifyFetch(options.adminUrlTemplate);

  return {
    async request<T>(shop: string, accessToken: string, query: string, variables?: Record<string, unknown>): Promise<T> {
      const client = createAdminApiClient({
        storeDomain: shop,
        apiVersion: options.apiVersion,
        accessToken,
        // Unsupported-version notices go nowhere instead of console.warn.
        logger: () => {},
        customFetchApi: shopifyFetch,
      });

      for (let attempt = 0; ; attempt++) {
        let result: Awaited<ReturnType<typeof client.request>>;
        try {
          result = await client.request(query, variables ? { variables } : {});
        } catch {
          throw new UnavailableError('Shopify is unreachable');
        }
        const errors = result.errors;
        const status = errors?.networkStatusCode;
        if (status === 401) throw new AdminUnauthorizedError();
        const graphQLErrors = (errors?.graphQLErrors ?? []) as Array<{ message?: string; extensions?: { code?: string } }>;
        const throttled = status === 429 || graphQLErrors.some((e) => e.extensions?.code === 'THROTTLED');
        if (throttled) {
          if (attempt >= maxRetries) throw new UnavailableError('Shopify is throttling this shop');
          const retryAfter = Number(errors?.response?.headers.get('retry-after'));
          const wait =
            status === 429 && Number.isFinite(retryAfter) && retryAfter > 0
              ? Math.min(maxWaitMs, retryAfter * 1000)
              : throttleWaitMs((result.extensions as { cost?: Parameters<typeof throttleWaitMs>[0] } | undefined)?.cost, maxWaitMs);
          await sleep(wait);
          continue;
        }
        if (status !== undefined && status >= 500) throw new UnavailableError('Shopify answered with an error');
        if (errors || result.data === undefined) {
          throw new AdminGraphqlError(graphQLErrors[0]?.message ?? errors?.message ?? 'GraphQL request failed', graphQLErrors);
        }
        return result.data as T;
      }
    },
  };
}

/** Admin GraphQL for a shop, with its stored token: one refresh and retry after a 401. */
export type ShopGraphql = <T = Record<string, unknown>>(shop: string, query: string, variables?: Record<string, unknown>) => Promise<T>;

export function createShopGraphql(
  client: AdminGraphqlClient,
  getAccessToken: (shop: string, opts?: { rejected?: string }) => Promise<string>,
): ShopGraphql {
  return async <T>(shop: string, query: string, variables?: Record<string, unknown>): Promise<T> => {
    const token = await getAccessToken(shop);
    try {
      return await client.request<T>(shop, token, query, variables);
    } catch (err) {
      if (!(err instanceof AdminUnauthorizedError)) throw err;
      const fresh = await getAccessToken(shop, { rejected: token });
      return client.request<T>(shop, fresh, query, variables);
    }
  };
}
