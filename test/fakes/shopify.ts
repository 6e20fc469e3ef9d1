/**
 * A fake Shopify: a real HTTP server on 127.0.0.1 that speaks the formats of
 * docs/shopify.md, for every shop at once. Point the app at it with
 * `SHOPIFY_ADMIN_URL_TEMPLATE=fake.adminUrlTemplate` (`http://127.0.0.1:PORT/{shop}`).
 *
 * HTTP API (paths are prefixed by the shop domain):
 * - POST /{shop}/admin/oauth/access_token, JSON or form body, client_id + client_secret checked:
 *   - code grant: `code` (from `issueCode(shop)`, single use) [+ `expiring=1`];
 *   - token exchange: `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`, `subject_token`
 *     (a session token verified like Shopify does: HS256, app secret, aud, dest = this shop, exp/nbf),
 *     `subject_token_type=...:id_token`, `requested_token_type=...:offline-access-token`;
 *   - refresh: `grant_type=refresh_token`, `refresh_token` (single use: each refresh rotates it).
 *   Answer `{access_token, scope, expires_in, refresh_token, refresh_token_expires_in}` (expiring when
 *   `expiring=1` or a refresh), or 400 `{error: "invalid_request" | "invalid_grant" | "invalid_subject_token"}`,
 *   401 `{error: "invalid_client"}`.
 * - POST /{shop}/admin/api/{version}/graphql.json with `X-Shopify-Access-Token` (a live token of that
 *   shop, else 401). The operation is recognised by keyword; arguments come from `variables`:
 *   - `appPurchaseOneTimeCreate(name, price: {amount, currencyCode}, returnUrl, test)` ->
 *     `{appPurchaseOneTime {id status}, confirmationUrl, userErrors}`, ids
 *     `gid://shopify/AppPurchaseOneTime/<n>`, status PENDING;
 *   - `node(id)` -> `{node: {id status name price {amount currencyCode} test createdAt}}` for a purchase of
 *     that shop, else `{node: null}`.
 *   - the catalogue operations of test/fakes/shopify-catalogue.ts (products, media, files, staged uploads,
 *     a fake CDN on a second listener: `cdnUrl`), controlled through `catalogue`.
 *   After `throttleNext(n)`, the next n GraphQL calls answer THROTTLED (HTTP 200, errors + extensions.cost).
 *   Catalogue operations also spend from a per-shop cost bucket (`costLimit`, default 2000 points, restoring
 *   100/s, like Shopify's leaky bucket): a query that costs more than is available answers THROTTLED.
 *
 * Test controls: `issueCode`, `signSessionToken`, `signQuery`, `callbackQuery`, `signWebhook`,
 * `webhookHeaders`, `setPurchaseStatus`, `throttleNext`, `setAccessTokenTtl`, `setRefreshDelay`, `failTokenRequests`,
 * `revokeAccessTokens`, and the counters in `calls`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify, SignJWT } from 'jose';
import { type FakeCatalogueControls, startFakeCatalogue } from './shopify-catalogue.js';

export type PurchaseStatus = 'PENDING' | 'ACTIVE' | 'DECLINED' | 'EXPIRED';

export interface FakePurchase {
  id: string;
  shop: string;
  name: string;
  status: PurchaseStatus;
  price: { amount: string; currencyCode: string };
  returnUrl: string;
  test: boolean;
  createdAt: string;
}

export interface FakeShopifyOptions {
  apiKey: string;
  apiSecret: string;
  scopes?: string;
  /** The cost bucket's size (Shopify's maximumAvailable) and its restore rate per second. */
  costLimit?: number;
  restoreRate?: number;
}

export interface FakeShopify {
  url: string;
  adminUrlTemplate: string;
  calls: {
    codeGrant: number;
    tokenExchange: number;
    refresh: number;
    tokenRejected: number;
    graphql: number;
    appPurchaseOneTimeCreate: number;
    node: number;
    throttled: number;
    /** Catalogue queries refused by the cost bucket. */
    costThrottled: number;
    /** The highest requested cost of one query, and the lowest the bucket ever got. */
    maxRequestedCost: number;
    minAvailable: number;
  };
  /** Products, media and files of the fake store, and its CDN. */
  catalogue: FakeCatalogueControls;
  cdnUrl: string;
  purchases: Map<string, FakePurchase>;
  /** Access tokens issued for the shop, newest last. */
  accessTokens(shop: string): string[];
  /** Refresh tokens issued for the shop, newest last. */
  refreshTokens(shop: string): string[];
  issueCode(shop: string): string;
  signSessionToken(shop: string, overrides?: Record<string, unknown>): Promise<string>;
  signQuery(params: Record<string, string>): string;
  /** A query string as Shopify sends to /auth/callback, signed. */
  callbackQuery(shop: string, params: { state: string; code?: string; timestamp?: number; host?: string }): string;
  signWebhook(body: string | Buffer): string;
  webhookHeaders(
    shop: string,
    topic: string,
    body: string,
    opts?: { webhookId?: string; triggeredAt?: string; eventId?: string },
  ): Record<string, string>;
  setPurchaseStatus(id: string, status: PurchaseStatus): void;
  throttleNext(n: number, status?: { requestedQueryCost?: number; currentlyAvailable?: number; restoreRate?: number }): void;
  /** Lifetime (s) of the access tokens issued from now on (default 3600). */
  setAccessTokenTtl(seconds: number): void;
  /** Delay before answering a refresh (to make concurrent refreshes overlap). */
  setRefreshDelay(ms: number): void;
  /** The next n token requests answer this status (429 with Retry-After, or a 5xx) without looking at them. */
  failTokenRequests(n: number, status: number): void;
  /** The shop's access tokens stop working (GraphQL answers 401). */
  revokeAccessTokens(shop: string): void;
  close(): Promise<void>;
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

export async function startFakeShopify(options: FakeShopifyOptions): Promise<FakeShopify> {
  const scopes = options.scopes ?? 'read_products,write_products,read_files,write_files';
  const catalogue = await startFakeCatalogue();
  const costLimit = options.costLimit ?? 2000;
  const RESTORE_RATE = options.restoreRate ?? 100;
  const buckets = new Map<string, { available: number; at: number }>();
  /** Refills the shop's bucket for the time passed, then spends `cost` if it is there. */
  function spend(shop: string, cost: number): { ok: boolean; available: number } {
    const now = Date.now();
    const b = buckets.get(shop) ?? { available: costLimit, at: now };
    b.available = Math.min(costLimit, b.available + ((now - b.at) / 1000) * RESTORE_RATE);
    b.at = now;
    buckets.set(shop, b);
    calls.maxRequestedCost = Math.max(calls.maxRequestedCost, cost);
    if (cost > b.available) return { ok: false, available: Math.floor(b.available) };
    b.available -= cost;
    calls.minAvailable = Math.min(calls.minAvailable, b.available);
    return { ok: true, available: Math.floor(b.available) };
  }
  const secretKey = new TextEncoder().encode(options.apiSecret);
  const codes = new Map<string, string>(); // code -> shop
  const access = new Map<string, { shop: string; expiresAt: number }>();
  const refresh = new Map<string, string>(); // live refresh token -> shop
  const issuedAccess = new Map<string, string[]>();
  const issuedRefresh = new Map<string, string[]>();
  const purchases = new Map<string, FakePurchase>();
  let purchaseSeq = 0;
  let throttle = 0;
  let throttleStatus = { requestedQueryCost: 10, currentlyAvailable: 0, restoreRate: 100 };
  let accessTtl = 3600;
  let refreshDelay = 0;
  let tokenFailures = { left: 0, status: 503 };
  const calls = {
    codeGrant: 0,
    tokenExchange: 0,
    refresh: 0,
    tokenRejected: 0,
    graphql: 0,
    appPurchaseOneTimeCreate: 0,
    node: 0,
    throttled: 0,
    costThrottled: 0,
    maxRequestedCost: 0,
    minAvailable: Number.POSITIVE_INFINITY,
  };

  const push = (m: Map<string, string[]>, shop: string, v: string) => m.set(shop, [...(m.get(shop) ?? []), v]);

  function issueTokens(shop: string, expiring: boolean) {
    const token = `shpat_${randomBytes(16).toString('hex')}`;
    access.set(token, { shop, expiresAt: expiring ? Date.now() + accessTtl * 1000 : Number.MAX_SAFE_INTEGER });
    push(issuedAccess, shop, token);
    if (!expiring) return { access_token: token, scope: scopes };
    const rt = `shprt_${randomBytes(16).toString('hex')}`;
    refresh.set(rt, shop);
    push(issuedRefresh, shop, rt);
    return { access_token: token, scope: scopes, expires_in: accessTtl, refresh_token: rt, refresh_token_expires_in: 7_776_000 };
  }

  async function verifySessionToken(token: string, shop: string): Promise<boolean> {
    try {
      const { payload } = await jwtVerify(token, secretKey, { algorithms: ['HS256'], audience: options.apiKey, clockTolerance: 10 });
      return payload.dest === `https://${shop}` && payload.iss === `https://${shop}/admin`;
    } catch {
      return false;
    }
  }

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  async function tokenEndpoint(shop: string, req: http.IncomingMessage, raw: string, res: http.ServerResponse) {
    if (tokenFailures.left > 0) {
      tokenFailures.left--;
      if (tokenFailures.status === 429) res.setHeader('retry-after', '2');
      return send(res, tokenFailures.status, { errors: tokenFailures.status === 429 ? 'Too many requests' : 'Internal error' });
    }
    const type = req.headers['content-type'] ?? '';
    let body: Record<string, string>;
    try {
      body = type.includes('json')
        ? (JSON.parse(raw) as Record<string, string>)
        : Object.fromEntries(new URLSearchParams(raw));
    } catch {
      return send(res, 400, { error: 'invalid_request' });
    }
    const reject = (status: number, error: string) => {
      calls.tokenRejected++;
      send(res, status, { error });
    };
    if (body.client_id !== options.apiKey || body.client_secret !== options.apiSecret) return reject(401, 'invalid_client');
    const expiring = String(body.expiring) === '1';
    if (body.grant_type === TOKEN_EXCHANGE) {
      calls.tokenExchange++;
      if (
        body.subject_token_type !== 'urn:ietf:params:oauth:token-type:id_token' ||
        body.requested_token_type !== 'urn:shopify:params:oauth:token-type:offline-access-token'
      ) {
        return reject(400, 'invalid_request');
      }
      if (!(await verifySessionToken(String(body.subject_token), shop))) return reject(400, 'invalid_subject_token');
      return send(res, 200, issueTokens(shop, expiring));
    }
    if (body.grant_type === 'refresh_token') {
      calls.refresh++;
      if (refreshDelay) await new Promise((r) => setTimeout(r, refreshDelay));
      const rt = String(body.refresh_token);
      if (refresh.get(rt) !== shop) return reject(400, 'invalid_grant');
      refresh.delete(rt); // rotating: spent
      return send(res, 200, issueTokens(shop, true));
    }
    if (body.grant_type === undefined && typeof body.code === 'string') {
      calls.codeGrant++;
      if (codes.get(body.code) !== shop) return reject(400, 'invalid_grant');
      codes.delete(body.code);
      return send(res, 200, issueTokens(shop, expiring));
    }
    return reject(400, 'unsupported_grant_type');
  }

  function graphql(shop: string, req: http.IncomingMessage, raw: string, res: http.ServerResponse) {
    calls.graphql++;
    const token = req.headers['x-shopify-access-token'];
    const live = typeof token === 'string' ? access.get(token) : undefined;
    if (!live || live.shop !== shop || live.expiresAt < Date.now()) {
      return send(res, 401, { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' });
    }
    let body: { query?: string; variables?: Record<string, unknown> };
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      return send(res, 400, { errors: 'Bad Request' });
    }
    if (throttle > 0) {
      throttle--;
      calls.throttled++;
      return send(res, 200, {
        errors: [{ message: 'Throttled', extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/rate-limits' } }],
        extensions: {
          cost: {
            requestedQueryCost: throttleStatus.requestedQueryCost,
            actualQueryCost: null,
            throttleStatus: {
              maximumAvailable: 2000,
              currentlyAvailable: throttleStatus.currentlyAvailable,
              restoreRate: throttleStatus.restoreRate,
            },
          },
        },
      });
    }
    const query = body.query ?? '';
    const vars = body.variables ?? {};
    const cost = { requestedQueryCost: 10, actualQueryCost: 10, throttleStatus: { maximumAvailable: 2000, currentlyAvailable: 1990, restoreRate: 100 } };

    if (query.includes('appPurchaseOneTimeCreate')) {
      calls.appPurchaseOneTimeCreate++;
      const price = (vars.price ?? {}) as { amount?: unknown; currencyCode?: unknown };
      const userErrors: Array<{ field: string[]; message: string }> = [];
      if (typeof vars.name !== 'string' || !vars.name) userErrors.push({ field: ['name'], message: "Name can't be blank" });
      if (!(Number(price.amount) > 0)) userErrors.push({ field: ['price', 'amount'], message: 'Amount must be greater than 0' });
      if (typeof price.currencyCode !== 'string') userErrors.push({ field: ['price', 'currencyCode'], message: 'Currency code is invalid' });
      if (typeof vars.returnUrl !== 'string') userErrors.push({ field: ['returnUrl'], message: 'Return url is invalid' });
      if (userErrors.length > 0) {
        return send(res, 200, { data: { appPurchaseOneTimeCreate: { appPurchaseOneTime: null, confirmationUrl: null, userErrors } }, extensions: { cost } });
      }
      const n = ++purchaseSeq;
      const purchase: FakePurchase = {
        id: `gid://shopify/AppPurchaseOneTime/${n}`,
        shop,
        name: String(vars.name),
        status: 'PENDING',
        price: { amount: Number(price.amount).toFixed(2), currencyCode: String(price.currencyCode) },
        returnUrl: String(vars.returnUrl),
        test: vars.test === true,
        createdAt: new Date().toISOString(),
      };
      purchases.set(purchase.id, purchase);
      return send(res, 200, {
        data: {
          appPurchaseOneTimeCreate: {
            appPurchaseOneTime: { id: purchase.id, status: purchase.status },
            confirmationUrl: `https://${shop}/admin/charges/${options.apiKey}/${n}/ApplicationCharge/confirm_application_charge?signature=fake`,
            userErrors: [],
          },
        },
        extensions: { cost },
      });
    }

    const cat = catalogue.handle(shop, query, vars);
    if (cat) {
      const spent = spend(shop, cat.cost);
      const bucket = { maximumAvailable: costLimit, currentlyAvailable: spent.available, restoreRate: RESTORE_RATE };
      if (!spent.ok) {
        calls.costThrottled++;
        return send(res, 200, {
          errors: [{ message: 'Throttled', extensions: { code: 'THROTTLED' } }],
          extensions: { cost: { requestedQueryCost: cat.cost, actualQueryCost: null, throttleStatus: bucket } },
        });
      }
      return send(res, 200, { data: cat.data, extensions: { cost: { requestedQueryCost: cat.cost, actualQueryCost: cat.cost, throttleStatus: bucket } } });
    }

    if (/\bnode\s*\(/.test(query)) {
      calls.node++;
      const p = purchases.get(String(vars.id ?? ''));
      const node =
        p && p.shop === shop
          ? { __typename: 'AppPurchaseOneTime', id: p.id, status: p.status, name: p.name, price: p.price, test: p.test, createdAt: p.createdAt }
          : null;
      return send(res, 200, { data: { node }, extensions: { cost } });
    }

    return send(res, 200, { errors: [{ message: 'The fake Shopify does not know this operation' }] });
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://fake');
      const m = /^\/([^/]+)(\/admin\/.*)$/.exec(url.pathname);
      if (!m || req.method !== 'POST') return send(res, 404, { errors: 'Not Found' });
      const [, shop, rest] = m as unknown as [string, string, string];
      const run =
        rest === '/admin/oauth/access_token'
          ? tokenEndpoint(shop, req, raw, res)
          : /^\/admin\/api\/[^/]+\/graphql\.json$/.test(rest)
            ? Promise.resolve(graphql(shop, req, raw, res))
            : Promise.resolve(send(res, 404, { errors: 'Not Found' }));
      run.catch(() => send(res, 500, { errors: 'Internal error' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  const signQuery = (params: Record<string, string>) => {
    const entries = Object.entries(params).filter(([k]) => k !== 'hmac' && k !== 'signature');
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return createHmac('sha256', options.apiSecret).update(new URLSearchParams(entries).toString()).digest('hex');
  };
  const signWebhook = (body: string | Buffer) => createHmac('sha256', options.apiSecret).update(body).digest('base64');

  return {
    url,
    adminUrlTemplate: `${url}/{shop}`,
    calls,
    catalogue,
    cdnUrl: catalogue.cdnUrl,
    purchases,
    accessTokens: (shop) => [...(issuedAccess.get(shop) ?? [])],
    refreshTokens: (shop) => [...(issuedRefresh.get(shop) ?? [])],
    issueCode(shop) {
      const code = randomBytes(12).toString('hex');
      codes.set(code, shop);
      return code;
    },
    async signSessionToken(shop, overrides = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({
        iss: `https://${shop}/admin`,
        dest: `https://${shop}`,
        aud: options.apiKey,
        sub: '42',
        exp: now + 60,
        nbf: now - 5,
        iat: now,
        jti: randomBytes(8).toString('hex'),
        sid: randomBytes(8).toString('hex'),
        ...overrides,
      })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .sign(secretKey);
    },
    signQuery,
    callbackQuery(shop, p) {
      const params: Record<string, string> = {
        code: p.code ?? '',
        host: p.host ?? Buffer.from(`admin.shopify.com/store/${shop.split('.')[0]}`).toString('base64url'),
        shop,
        state: p.state,
        timestamp: String(p.timestamp ?? Math.floor(Date.now() / 1000)),
      };
      return new URLSearchParams({ ...params, hmac: signQuery(params) }).toString();
    },
    signWebhook,
    webhookHeaders(shop, topic, body, opts = {}) {
      return {
        'content-type': 'application/json',
        'x-shopify-hmac-sha256': signWebhook(body),
        'x-shopify-shop-domain': shop,
        'x-shopify-topic': topic,
        'x-shopify-webhook-id': opts.webhookId ?? randomBytes(12).toString('hex'),
        'x-shopify-event-id': opts.eventId ?? randomBytes(8).toString('hex'),
        'x-shopify-triggered-at': opts.triggeredAt ?? new Date().toISOString(),
        'x-shopify-api-version': '2026-10',
      };
    },
    setPurchaseStatus(id, status) {
      const p = purchases.get(id);
      if (!p) throw new Error(`no purchase ${id}`);
      p.status = status;
    },
    throttleNext(n, status) {
      throttle = n;
      throttleStatus = { ...throttleStatus, ...status };
    },
    setAccessTokenTtl(seconds) {
      accessTtl = seconds;
    },
    setRefreshDelay(ms) {
      refreshDelay = ms;
    },
    failTokenRequests(n, status) {
      tokenFailures = { left: n, status };
    },
    revokeAccessTokens(shop) {
      for (const [t, v] of access) if (v.shop === shop) access.delete(t);
    },
    close: async () => {
      await catalogue.close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
