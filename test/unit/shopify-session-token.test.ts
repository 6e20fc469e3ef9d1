import '@shopify/shopify-api/adapters/node';
import { ApiVersion, shopifyApi } from '@shopify/shopify-api';
import { describe, expect, it } from 'vitest';
import { createShopifyAuth } from '../../src/adapters/shopify/auth.js';
import { API_KEY, API_SECRET, rs256WithSecretAsKey } from '../helpers/shopify.js';
import { hs256, hs384, nowS, rs256, shopifyClaims, unsignedToken } from '../helpers/tokens.js';

/**
 * Session tokens built the way App Bridge builds them (test/helpers/tokens.ts),
 * checked by our verifier (the official library plus our stricter rules), and
 * next to it the library alone, to show what the extra rules catch.
 */
const ours = createShopifyAuth({
  apiKey: API_KEY,
  apiSecret: API_SECRET,
  scopes: 'read_products',
  apiVersion: '2026-10',
  appUrl: 'https://api.example.test',
  adminUrlTemplate: 'https://{shop}',
});
const library = shopifyApi({
  apiKey: API_KEY,
  apiSecretKey: API_SECRET,
  apiVersion: ApiVersion.October26,
  hostName: 'api.example.test',
  isEmbeddedApp: true,
  logger: { log: () => {} },
});
const libraryAccepts = (token: string) => library.session.decodeSessionToken(token).then(() => true, () => false);

const shop = 'token-shop.myshopify.com';

describe('Shopify session tokens', () => {
  it('a token as App Bridge issues it names its shop', async () => {
    const token = await hs256(shopifyClaims(shop, API_KEY), API_SECRET);
    expect(await ours.verifySessionToken(token)).toBe(shop);
    expect(await libraryAccepts(token)).toBe(true);
  });

  it('a shop domain in capitals is lower-cased', async () => {
    const upper = 'Token-Shop.myshopify.com';
    const token = await hs256(shopifyClaims(upper, API_KEY), API_SECRET);
    expect(await ours.verifySessionToken(token)).toBe(shop);
  });

  it('exp/nbf within the 10 s leeway pass', async () => {
    const token = await hs256(shopifyClaims(shop, API_KEY, { exp: nowS() - 5, nbf: nowS() + 5 }), API_SECRET);
    expect(await ours.verifySessionToken(token)).toBe(shop);
  });

  // What the library accepts and we refuse: why our checks sit on top of it.
  it.each([
    ['iss naming another shop than dest', { iss: 'https://other.myshopify.com/admin' }],
    ['dest naming another shop than iss', { dest: 'https://other.myshopify.com' }],
    ['no exp (valid forever)', { exp: undefined }],
    ['no iss', { iss: undefined }],
    ['no dest', { dest: undefined }],
    ['a shop outside myshopify.com', { iss: 'https://evil.com/admin', dest: 'https://evil.com' }],
    ['a shop with a port', { iss: `https://${shop}:443/admin`, dest: `https://${shop}:443` }],
    ['iss without /admin', { iss: `https://${shop}` }],
    ['dest with a path', { dest: `https://${shop}/admin` }],
  ])('refuses %s (the library alone accepts it)', async (_name, overrides) => {
    const token = await hs256(shopifyClaims(shop, API_KEY, overrides), API_SECRET);
    expect(await libraryAccepts(token)).toBe(true);
    expect(await ours.verifySessionToken(token)).toBeNull();
  });

  it.each([
    ['another aud', () => hs256(shopifyClaims(shop, API_KEY, { aud: 'another-app' }), API_SECRET)],
    ['another secret', () => hs256(shopifyClaims(shop, API_KEY), `${API_SECRET}x`)],
    ['expired past the leeway', () => hs256(shopifyClaims(shop, API_KEY, { exp: nowS() - 30 }), API_SECRET)],
    ['not yet valid past the leeway', () => hs256(shopifyClaims(shop, API_KEY, { nbf: nowS() + 30 }), API_SECRET)],
    ['alg none', async () => unsignedToken(shopifyClaims(shop, API_KEY))],
    ['HS384', () => hs384(shopifyClaims(shop, API_KEY), API_SECRET)],
    ['RS256', () => rs256(shopifyClaims(shop, API_KEY))],
    ['RS256 signed with the secret as a public key', async () => rs256WithSecretAsKey(shopifyClaims(shop, API_KEY), API_SECRET)],
    ['garbage', async () => 'not.a.token'],
  ])('refuses %s (so does the library)', async (_name, make) => {
    const token = await make();
    expect(await libraryAccepts(token)).toBe(false);
    expect(await ours.verifySessionToken(token)).toBeNull();
  });
});
