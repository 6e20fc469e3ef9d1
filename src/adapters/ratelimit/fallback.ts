import type { RateLimiter, RateLimitResult, RateLimitRules } from './limiter.js';

export interface FallbackLimiterOptions {
  /** After a failure, the fallback answers alone this long before the primary is tried again (default 1000 ms). */
  cooldownMs?: number;
  now?: () => number;
}

/**
 * Asks the primary (Redis); when it fails or times out, the fallback
 * (in-process) answers that check, marked with `fallback`. After a failure the
 * primary rests for `cooldownMs`, so a dead Redis costs one timeout per
 * cooldown rather than one per request.
 */
export function createFallbackLimiter(
  primary: RateLimiter,
  fallback: RateLimiter,
  options: FallbackLimiterOptions = {},
): RateLimiter {
  const cooldownMs = options.cooldownMs ?? 1000;
  const now = options.now ?? Date.now;
  let restUntil = 0;
  return {
    async check(key: string, rules: RateLimitRules): Promise<RateLimitResult> {
      if (now() >= restUntil) {
        try {
          return await primary.check(key, rules);
        } catch (error) {
          restUntil = now() + cooldownMs;
          return { ...(await fallback.check(key, rules)), fallback: { error } };
        }
      }
      return { ...(await fallback.check(key, rules)), fallback: {} };
    },
    async close() {
      await primary.close?.();
      await fallback.close?.();
    },
  };
}
