/**
 * Storage keys are relative, slash-separated paths such as
 * `{shop}/upload/{uuid}.png`. A key is safe when it has no empty, `.` or `..`
 * segment, no backslash, no NUL or control character and is not absolute.
 */
export function isSafeKey(key: string): boolean {
  if (key.length === 0 || key.length > 1024) return false;
  if (key.startsWith('/') || key.includes('\\')) return false;
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(key)) return false;
  return key.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/** True when the key is safe and lies under one of the shop's own prefixes. */
export function keyBelongsToShop(key: string, shop: string): boolean {
  return isSafeKey(key) && (key.startsWith(`${shop}/`) || key.startsWith(`avatars/${shop}/`));
}
