import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** An unsigned token: `alg: none`. */
export function unsignedToken(payload: Record<string, unknown>): string {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}

export async function hs256(payload: Record<string, unknown>, secret: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}

/** An RS256 token signed with a fresh key pair (the verifier must refuse the algorithm). */
export async function rs256(payload: Record<string, unknown>): Promise<string> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).sign(privateKey);
}

/** A token whose header claims HS384 but is signed with the right secret (only HS256 is accepted). */
export async function hs384(payload: Record<string, unknown>, secret: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS384', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}

export const nowS = () => Math.floor(Date.now() / 1000);

/** The claims of our compat session cookie. */
export function sessionClaims(shop: string, overrides: Record<string, unknown> = {}) {
  const iat = nowS();
  return { sub: shop, shop, role: 'authenticated', iat, exp: iat + 3600, ...overrides };
}

/** The claims of a Shopify session token (App Bridge ID token). */
export function shopifyClaims(shop: string, apiKey: string, overrides: Record<string, unknown> = {}) {
  const iat = nowS();
  return {
    iss: `https://${shop}/admin`,
    dest: `https://${shop}`,
    aud: apiKey,
    sub: '42',
    exp: iat + 60,
    nbf: iat - 5,
    iat,
    jti: crypto.randomUUID(),
    sid: 'session-id',
    ...overrides,
  };
}
