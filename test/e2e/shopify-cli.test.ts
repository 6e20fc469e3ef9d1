import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type Spawned, spawnEntry, waitFor } from '../helpers/process.js';

/**
 * The API as `shopify app dev` (Shopify CLI 4.x) starts it from shopify.web.toml:
 * in a fresh checkout (no .env, no data), with only the variables the CLI
 * injects (names from the CLI's source: its web process environment).
 */
describe('the API started by `shopify app dev`, with only the CLI variables', () => {
  const appUrl = 'https://tunnel-test.trycloudflare.com';
  const secret = 'cli-secret-0123456789abcdef';
  const scopes = 'read_products,write_products,read_files,write_files';
  let port: number;
  let cwd: string;
  let api: Spawned;

  beforeAll(async () => {
    port = await freePort();
    cwd = mkdtempSync(path.join(tmpdir(), 'shopify-cli-'));
    api = spawnEntry(
      'src/main/api.ts',
      {
        SHOPIFY_API_KEY: 'cli-api-key',
        SHOPIFY_API_SECRET: secret,
        HOST: appUrl,
        APP_URL: appUrl,
        SCOPES: scopes,
        PORT: String(port),
        SERVER_PORT: String(port),
        BACKEND_PORT: String(port),
        FRONTEND_PORT: String(port),
        NODE_ENV: 'development',
        APP_ENV: 'development',
        REMIX_DEV_ORIGIN: appUrl,
      },
      { cwd },
    );
    // Start-up (tsx, PGlite migrations) takes over 30 s when the machine is loaded.
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 120_000, '/health');
  }, 150_000);
  afterAll(() => {
    if (api.child.exitCode === null) api.child.kill('SIGKILL');
  });

  it('answers /health on PORT, in Shopify mode, on the app URL', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(api.output()).toContain('"shopify":"shopify"');
    expect(api.output()).toContain(`ready on ${appUrl}`);
  });

  it('asks Shopify for the CLI scopes, with the CLI key, back to the app URL', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/auth/oauth?shop=dev-store.myshopify.com`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe('https://dev-store.myshopify.com/admin/oauth/authorize');
    expect(location.searchParams.get('client_id')).toBe('cli-api-key');
    expect(location.searchParams.get('scope')).toBe(scopes);
    expect(location.searchParams.get('redirect_uri')).toBe(`${appUrl}/auth/callback`);
  });

  it('checks webhooks with the CLI secret', async () => {
    const body = JSON.stringify({ shop_id: 1, shop_domain: 'dev-store.myshopify.com', customer: { id: 1 } });
    const send = (key: string) =>
      fetch(`http://127.0.0.1:${port}/webhooks/customers/data_request`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-shopify-hmac-sha256': createHmac('sha256', key).update(body).digest('base64'),
          'x-shopify-topic': 'customers/data_request',
          'x-shopify-shop-domain': 'dev-store.myshopify.com',
          'x-shopify-api-version': '2026-10',
          'x-shopify-webhook-id': randomUUID(),
          'x-shopify-event-id': randomUUID(),
        },
        body,
      });
    expect((await send(secret)).status).toBe(200);
    expect((await send(`${secret}x`)).status).toBe(401);
  });

  it('keeps its database and generated secrets in ./data of the directory it was started in', () => {
    expect(existsSync(path.join(cwd, 'data', 'local-secrets.json'))).toBe(true);
    expect(existsSync(path.join(cwd, 'data', 'db'))).toBe(true);
  });
});
