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
    .sign(await hmacKey(secret));
}

/**
 * The shop of a valid session token, or null: only HS256, signature, exp, and consistent claims.
 * `previous` are retired secrets still accepted during a rotation (JWT_SECRET_PREVIOUS); new
 * tokens are always signed with the current one, so old cookies age out within SESSION_TTL_S.
 */
export async function verifySession(secret: string, token: string, previous: readonly string[] = []): Promise<string | null> {
  for (const key of [secret, ...previous]) {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, await hmacKey(key), { algorithms: ['HS256'], requiredClaims: ['exp', 'iat', 'sub'] }));
    } catch {
      continue; // not this key (or expired, malformed: no key will do better, and there are few)
    }
    const shop = normalizeShopDomain(payload.shop);
    if (!shop || payload.sub !== payload.shop || payload.role !== 'authenticated') return null;
    return shop;
  }
  return null;
}
