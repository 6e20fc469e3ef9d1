import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parsePlans } from '../../src/config/load.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'cfg-'));
const prodEnv = {
  SHOPIFY_API_KEY: 'key',
  SHOPIFY_API_SECRET: 'secret',
  JWT_SECRET: 'x'.repeat(32),
  TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
};

function configError(env: Record<string, string>): string {
  try {
    loadConfig({ DATA_DIR: tmp(), ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('runs on embedded defaults with nothing configured', () => {
    const c = loadConfig({ DATA_DIR: tmp() });
    expect(c.http.port).toBe(8000);
    expect(c.http.host).toBe('0.0.0.0');
    expect(c.http.backendUrl).toBe('http://localhost:8000');
    expect(c.database.kind).toBe('pglite');
    expect(c.storage.kind).toBe('local');
    expect(c.processor.kind).toBe('local');
    expect(c.shopify.mode).toBe('local');
    expect(c.shopify.apiVersion).toBe('2026-10');
    expect(c.credits.sandbox).toBe(true);
    expect(c.credits.freeCredits).toBe(10);
    expect(c.maxUploadBytes).toBe(20 * 1024 * 1024);
    expect(c.maxInputPixels).toBe(50_000_000);
    expect(c.rateLimit.default).toEqual({ burst: 10, burstWindowS: 1, sustained: 60, sustainedWindowS: 60 });
    expect(c.rateLimit.upload).toEqual({ burst: 5, burstWindowS: 1, sustained: 30, sustainedWindowS: 60 });
    expect(c.credits.plans.map((p) => [p.id, p.credits, p.price])).toEqual([
      ['100', 100, '10.00'],
      ['500', 500, '45.00'],
      ['1000', 1000, '75.00'],
      ['5000', 5000, '300.00'],
    ]);
  });

  it('generates the local secrets once and keeps them in DATA_DIR', () => {
    const dir = tmp();
    const a = loadConfig({ DATA_DIR: dir });
    const b = loadConfig({ DATA_DIR: dir });
    expect(a.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(b.jwtSecret).toBe(a.jwtSecret);
    expect(b.tokenEncryptionKey.equals(a.tokenEncryptionKey)).toBe(true);
    const file = path.join(dir, 'local-secrets.json');
    expect(JSON.parse(readFileSync(file, 'utf8')).jwtSecret).toBe(a.jwtSecret);
    expect(statSync(file).mode & 0o077).toBe(0);
  });

  it('picks the production adapters from their variables', () => {
    const c = loadConfig({
      DATA_DIR: tmp(),
      ...prodEnv,
      DATABASE_URL: 'postgres://u@db/app',
      REDIS_URL: 'redis://r:6379',
      S3_BUCKET: 'b',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      MAKEIT3D_API_KEY: 'k',
      BACKEND_URL: 'https://api.example.com/',
      TRUST_PROXY: '1',
    });
    expect(c.shopify.mode).toBe('shopify');
    expect(c.credits.sandbox).toBe(false);
    expect(c.database).toMatchObject({ kind: 'postgres', url: 'postgres://u@db/app' });
    expect(c.redisUrl).toBe('redis://r:6379');
    expect(c.storage).toMatchObject({ kind: 's3', bucket: 'b', forcePathStyle: true });
    expect(c.processor).toMatchObject({ kind: 'makeit3d', baseUrl: 'https://api.makeit3d.io' });
    expect(c.http.backendUrl).toBe('https://api.example.com');
    expect(c.http.trustProxy).toBe(1);
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT: /],
    [{ PORT: '70000' }, /^PORT: /],
    [{ MAX_UPLOAD_MB: '-1' }, /^MAX_UPLOAD_MB: /],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: must be a postgres/],
    [{ REDIS_URL: 'http://x' }, /^REDIS_URL: /],
    [{ FRONTEND_URL: 'not a url' }, /^FRONTEND_URL: /],
    [{ SANDBOX_MODE: 'maybe' }, /^SANDBOX_MODE: must be true or false/],
    [{ SANDBOX_MODE: 'false' }, /^SANDBOX_MODE: false needs SHOPIFY_API_KEY/],
    [{ SHOPIFY_API_KEY: 'k' }, /^SHOPIFY_API_SECRET: must be set together/],
    [{ CREDITS_CURRENCY: 'usd' }, /^CREDITS_CURRENCY: /],
    [{ CREDIT_PLANS: '100:abc:1' }, /^CREDIT_PLANS: /],
    [{ CREDIT_PLANS: '100:100:1,100:5:2' }, /^CREDIT_PLANS: plan ids must be unique/],
    [{ TRUST_PROXY: 'yes please' }, /^TRUST_PROXY: /],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: /],
    [{ SUPABASE_URL: 'https://x.supabase.co' }, /^SUPABASE_SERVICE_ROLE_KEY: required/],
    [{ JWT_SECRET: 'short' }, /^JWT_SECRET: must be at least 32/],
  ])('refuses %j with one line naming the variable', (env, expected) => {
    const message = configError(env);
    expect(message).toMatch(expected);
    expect(message).not.toContain('\n');
  });

  it('requires the secrets when Shopify is configured', () => {
    expect(configError({ ...prodEnv, JWT_SECRET: '' })).toMatch(/^JWT_SECRET: required/);
    expect(configError({ ...prodEnv, JWT_SECRET: 'y'.repeat(31) })).toMatch(/^JWT_SECRET: must be at least 32/);
    expect(configError({ ...prodEnv, TOKEN_ENCRYPTION_KEY: '' })).toMatch(/^TOKEN_ENCRYPTION_KEY: required/);
    expect(configError({ ...prodEnv, TOKEN_ENCRYPTION_KEY: Buffer.alloc(16).toString('base64') })).toMatch(
      /^TOKEN_ENCRYPTION_KEY: must be 32 bytes/,
    );
  });

  /** The variables `shopify app dev` (Shopify CLI 4.x) gives the process it starts, and nothing else. */
  const cliEnv = {
    SHOPIFY_API_KEY: 'cli-key',
    SHOPIFY_API_SECRET: 'cli-secret',
    HOST: 'https://tunnel-abc.trycloudflare.com',
    APP_URL: 'https://tunnel-abc.trycloudflare.com',
    SCOPES: 'read_products,write_products,read_files,write_files',
    PORT: '61234',
    SERVER_PORT: '61234',
    BACKEND_PORT: '61234',
    FRONTEND_PORT: '61234',
    NODE_ENV: 'development',
    APP_ENV: 'development',
    REMIX_DEV_ORIGIN: 'https://tunnel-abc.trycloudflare.com',
  };

  it("maps the Shopify CLI's variables to ours: key, secret, scopes, app URL, port", () => {
    const dataDir = tmp();
    const c = loadConfig({ DATA_DIR: dataDir, ...cliEnv });
    expect(c.shopify).toMatchObject({ mode: 'shopify', apiKey: 'cli-key', apiSecret: 'cli-secret', scopes: cliEnv.SCOPES });
    expect(c.http).toMatchObject({ backendUrl: 'https://tunnel-abc.trycloudflare.com', port: 61234, host: '0.0.0.0' });
    // A development store: test charges, and the two secrets kept in DATA_DIR like local mode.
    expect(c.shopify.billingTest).toBe(true);
    const saved = JSON.parse(readFileSync(path.join(dataDir, 'local-secrets.json'), 'utf8')) as { jwtSecret: string };
    expect(c.jwtSecret).toBe(saved.jwtSecret);
    // HOST alone (older CLIs) is the app URL too.
    const { APP_URL: _a, ...hostOnly } = cliEnv;
    expect(loadConfig({ DATA_DIR: tmp(), ...hostOnly }).http.backendUrl).toBe(cliEnv.HOST);
  });

  it('lets our own variables win over the CLI names', () => {
    const c = loadConfig({
      DATA_DIR: tmp(),
      ...cliEnv,
      BACKEND_URL: 'https://api.example.test',
      SHOPIFY_SCOPES: 'read_products',
      BILLING_TEST: 'false',
      JWT_SECRET: 'z'.repeat(40),
    });
    expect(c.http.backendUrl).toBe('https://api.example.test');
    expect(c.shopify.scopes).toBe('read_products');
    expect(c.shopify.billingTest).toBe(false);
    expect(c.jwtSecret).toBe('z'.repeat(40));
  });

  it('outside `shopify app dev`, HOST is the listen address and the secrets stay required', () => {
    expect(loadConfig({ DATA_DIR: tmp(), HOST: '127.0.0.1' }).http.host).toBe('127.0.0.1');
    // APP_ENV=development alone (no CLI app URL) is not the CLI: production rules apply.
    expect(configError({ SHOPIFY_API_KEY: 'k', SHOPIFY_API_SECRET: 's', APP_ENV: 'development' })).toMatch(/^JWT_SECRET: required/);
    const { APP_ENV: _e, ...notDev } = cliEnv;
    expect(configError(notDev)).toMatch(/^JWT_SECRET: required/);
  });

  it('parses custom plans with money as two-decimal strings', () => {
    expect(parsePlans('starter:50:4.5, pro:1000:80', 'EUR')).toEqual([
      { id: 'starter', credits: 50, price: '4.50', currency: 'EUR' },
      { id: 'pro', credits: 1000, price: '80.00', currency: 'EUR' },
    ]);
  });
});
