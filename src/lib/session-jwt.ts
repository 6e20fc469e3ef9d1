import { jwtVerify, SignJWT } from 'jose';
import { hmacKey } from './hmac-key.js';
import { normalizeShopDomain } from './shop-domain.js';

/** compat: the `session` cookie is an HS256 JWT {sub: shop, shop, role: "authenticated", iat, exp} valid 24 h. */
export const SESSION_TTL_S = 24 * 60 * 60;

export async function signSession(secret: string, shop: string, nowS = Math.floor(Date.now() / 1000)): Promise<string> {
  return new SignJWT({ shop, role: 'authenticated' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(shop)
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + SESSION_TTL_S)
    .sign(hmacKey(secret));
}

/** The shop of a valid session token, or null: only HS256, signature, exp, and consistent claims. */
export async function verifySession(secret: string, token: string): Promise<string | null> {
  try {
    const { payload } = await jwtVerify(token, hmacKey(secret), {
      algorithms: ['HS256'],
      requiredClaims: ['exp', 'iat', 'sub'],
    });
    const shop = normalizeShopDomain(payload.shop);
    if (!shop || payload.sub !== payload.shop || payload.role !== 'authenticated') return null;
    return shop;
  } catch {
    return null;
  }
}
