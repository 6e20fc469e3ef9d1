const SHOP_RE = /^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$/;

/** Lower-cases, then checks the anchored shop pattern of api.md. Null when invalid. */
export function normalizeShopDomain(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 255) return null;
  const lower = value.toLowerCase();
  return SHOP_RE.test(lower) ? lower : null;
}
