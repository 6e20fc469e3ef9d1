import { type RateLimiter, type RateLimitResult, type RateLimitRules, summarize, type WindowState } from './limiter.js';

export interface MemoryLimiterOptions {
  /** Most keys kept; the least recently used key is dropped beyond it (default 50 000). */
  maxKeys?: number;
  /** Milliseconds clock (tests move it by hand). Default: a monotonic clock. */
  now?: () => number;
}

interface Entry {
  /** Timestamps (ms) of accepted requests, oldest first, one array per window. */
  burst: number[];
  sustained: number[];
  /** When this key stops mattering: its newest entry has left every window. */
  idleAt: number;
}

/** Drops the timestamps that left a window ending at `now` (exclusive start, as the Redis script). */
function trim(times: number[], now: number, windowMs: number): void {
  const cutoff = now - windowMs;
  let i = 0;
  while (i < times.length && times[i]! <= cutoff) i++;
  if (i > 0) times.splice(0, i);
}

function state(times: number[], limit: number, windowMs: number, now: number): WindowState {
  const count = times.length;
  const waitMs = count >= limit ? times[count - limit]! + windowMs - now : 0;
  return { limit, count, waitMs, resetMs: (count > 0 ? times[0]! : now) + windowMs - now };
}

/**
 * The in-process limiter: same sliding-window semantics as the Redis script,
 * exact per process. Memory is bounded: keys idle longer than their longest
 * window are swept, and at most `maxKeys` keys are kept (LRU).
 */
export function createMemoryLimiter(options: MemoryLimiterOptions = {}): RateLimiter & { size(): number } {
  const maxKeys = options.maxKeys ?? 50_000;
  const origin = Date.now() - performance.now();
  const now = options.now ?? (() => origin + performance.now());
  const entries = new Map<string, Entry>();
  let nextSweep = 0;

  function sweep(t: number): void {
    for (const [key, entry] of entries) if (entry.idleAt <= t) entries.delete(key);
  }

  return {
    size: () => entries.size,
    async check(key: string, rules: RateLimitRules): Promise<RateLimitResult> {
      const t = now();
      const burstMs = rules.burstWindowS * 1000;
      const sustainedMs = rules.sustainedWindowS * 1000;
      if (t >= nextSweep) {
        sweep(t);
        nextSweep = t + Math.min(60_000, Math.max(burstMs, sustainedMs));
      }

      let entry = entries.get(key);
      if (entry) entries.delete(key); // re-inserted below: Map order is the LRU order
      else entry = { burst: [], sustained: [], idleAt: 0 };
      entries.set(key, entry);
      if (entries.size > maxKeys) entries.delete(entries.keys().next().value!);

      trim(entry.burst, t, burstMs);
      trim(entry.sustained, t, sustainedMs);
      const before = [state(entry.burst, rules.burst, burstMs, t), state(entry.sustained, rules.sustained, sustainedMs, t)];
      const allowed = before.every((w) => w.count < w.limit);
      if (!allowed) return summarize(false, before);

      entry.burst.push(t);
      entry.sustained.push(t);
      entry.idleAt = t + Math.max(burstMs, sustainedMs);
      const oldest = (times: number[], windowMs: number) => times[0]! + windowMs - t;
      return summarize(true, [
        { ...before[0]!, resetMs: oldest(entry.burst, burstMs) },
        { ...before[1]!, resetMs: oldest(entry.sustained, sustainedMs) },
      ]);
    },
  };
}
