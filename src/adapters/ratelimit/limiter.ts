/**
 * Rate limiter port: two sliding windows (burst and sustained) per key, both
 * checked and recorded in one step. A refused request is NOT recorded, so a
 * client that keeps hammering while blocked does not extend its own block:
 * it gets room again as soon as its oldest accepted requests leave the window.
 */
export interface RateLimitRules {
  burst: number;
  burstWindowS: number;
  sustained: number;
  sustainedWindowS: number;
}

export interface RateLimitResult {
  allowed: boolean;
  /** The limit of the window that binds now (the one with the least room left). */
  limit: number;
  /** Requests left in that window after this one (0 when refused). */
  remaining: number;
  /** Seconds until that window frees a slot (RateLimit-Reset). */
  resetS: number;
  /** Seconds to wait before a retry can succeed (0 when allowed). */
  retryAfterS: number;
  /** Set by the fallback wrapper when the in-process limiter answered instead of Redis. */
  fallback?: { error?: unknown };
}

export interface RateLimiter {
  check(key: string, rules: RateLimitRules): Promise<RateLimitResult>;
  close?(): Promise<void>;
}

export interface WindowState {
  limit: number;
  /** Requests counted in the window before this one. */
  count: number;
  /** ms until the slot this request needs frees up (when count >= limit). */
  waitMs: number;
  /** ms until the oldest entry leaves, after recording (when allowed). */
  resetMs: number;
}

/**
 * Turns the two windows' states into one answer (the Redis script returns the
 * raw numbers, so both adapters share this arithmetic).
 */
export function summarize(allowed: boolean, windows: WindowState[]): RateLimitResult {
  const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
  if (!allowed) {
    // The window that keeps the client out longest.
    let worst = windows[0]!;
    for (const w of windows) if (w.count >= w.limit && (worst.count < worst.limit || w.waitMs > worst.waitMs)) worst = w;
    const retry = seconds(worst.waitMs);
    return { allowed: false, limit: worst.limit, remaining: 0, resetS: retry, retryAfterS: retry };
  }
  let bind = windows[0]!;
  let bindRemaining = bind.limit - bind.count - 1;
  for (const w of windows.slice(1)) {
    const remaining = w.limit - w.count - 1;
    if (remaining < bindRemaining || (remaining === bindRemaining && w.resetMs > bind.resetMs)) {
      bind = w;
      bindRemaining = remaining;
    }
  }
  return { allowed: true, limit: bind.limit, remaining: Math.max(0, bindRemaining), resetS: seconds(bind.resetMs), retryAfterS: 0 };
}
