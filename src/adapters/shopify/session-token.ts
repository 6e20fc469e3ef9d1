import { jwtVerify } from 'jose';
import { hmacKey } from '../../lib/hmac-key.js';
import { normalizeShopDomain } from '../../lib/shop-domain.js';

/**
 * Verifies the session token (ID token) App Bridge sends as a Bearer token:
 * HS256 with the app secret, aud = API key, exp/nbf with 10 s leeway, and
 * iss `https://{shop}/admin` and dest `https://{shop}` naming the same valid shop.
 * Returns the shop, or null.
 */
export async function verifySessionToken(
  token: string,
  app: { apiKey: string; apiSecret: string },
): Promise<string | null> {
  try {
    const { payload } = await jwtVerify(token, hmacKey(app.apiSecret), {
      algorithms: ['HS256'],
      audience: app.apiKey,
      clockTolerance: 10,
      requiredClaims: ['exp', 'iss', 'dest'],
    });
    const dest = typeof payload.dest === 'string' ? /^https:\/\/([^/]+)$/.exec(payload.dest) : null;
    const iss = typeof payload.iss === 'string' ? /^https:\/\/([^/]+)\/admin$/.exec(payload.iss) : null;
    if (!dest || !iss || dest[1] !== iss[1]) return null;
    // The regex is applied to the value as sent: `SHOP.myshopify.com` in a token is lower-cased, not refused.
    return normalizeShopDomain(dest[1]);
  } catch {
    return null;
  }
}
