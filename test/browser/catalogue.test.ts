/**
 * The catalogue in the admin when the shop granted too little: the
 * missing-scopes banner asks for them through App Bridge. The catalogue's
 * scenarios (process, apply, restore; a small batch) run in both modes in
 * dashboard-local.test.ts and dashboard-embedded.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/process.js';
import { chromiumAvailable } from './harness.js';
import { type EmbeddedSession, embeddedSession } from './scenarios.js';

const TIMEOUT = 300_000;

describe.runIf(chromiumAvailable)('missing scopes in the admin', () => {
  let s: EmbeddedSession;

  beforeAll(async () => {
    // The shop granted only the product scopes: the catalogue also needs read_files,write_files.
    s = await embeddedSession({ shop: 'scopes.myshopify.com', scopes: 'read_products,write_products' });
  }, TIMEOUT);
  afterAll(async () => {
    await s?.close();
  });

  it('asks for them through App Bridge', async () => {
    await s.page.goto(s.admin.appPage('/products'));
    const banner = (await s.ui.app()).locator('.Polaris-Banner', { hasText: 'The app needs more access to your store' });
    await banner.waitFor();
    await banner.getByRole('button', { name: 'Grant access' }).click();
    const requested = await waitFor(
      async () => s.page.evaluate(() => (globalThis as unknown as { scopesRequested?: string[] }).scopesRequested),
      30_000,
      'the scopes request',
    );
    expect(requested).toEqual(expect.arrayContaining(['read_files', 'write_files']));
  }, TIMEOUT);
});
