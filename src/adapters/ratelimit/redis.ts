import { randomBytes } from 'node:crypto';
import type { Redis, Result } from 'ioredis';
import { type RateLimiter, type RateLimitResult, type RateLimitRules, summarize } from './limiter.js';

/**
 * Both windows in one atomic call. KEYS[1] burst log, KEYS[2] sustained log
 * (sorted sets of accepted requests scored by server time in ms).
 * ARGV: burst limit, burst window ms, sustained limit, sustained window ms, unique member suffix.
 * The clock is the Redis server's (TIME), so API instances with skewed clocks agree.
 * A refused request is not recorded (it cannot extend its own block).
 * Returns {allowed, count1, wait1, reset1, count2, wait2, reset2} in ms.
 */
export const RATE_LIMIT_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limits = { tonumber(ARGV[1]), tonumber(ARGV[3]) }
local windows = { tonumber(ARGV[2]), tonumber(ARGV[4]) }
local counts = { 0, 0 }
local waits = { 0, 0 }
local allowed = 1
for i = 1, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - windows[i])
  local c = redis.call('ZCARD', KEYS[i])
  counts[i] = c
  if c >= limits[i] then
    allowed = 0
    local entry = redis.call('ZRANGE', KEYS[i], c - limits[i], c - limits[i], 'WITHSCORES')
    waits[i] = tonumber(entry[2]) + windows[i] - now
  end
end
local resets = { 0, 0 }
if allowed == 1 then
  local member = t[1] .. '.' .. t[2] .. ':' .. ARGV[5]
  for i = 1, 2 do
    redis.call('ZADD', KEYS[i], now, member)
    redis.call('PEXPIRE', KEYS[i], windows[i])
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    resets[i] = tonumber(oldest[2]) + windows[i] - now
  end
end
return { allowed, counts[1], waits[1], resets[1], counts[2], waits[2], resets[2] }
`;

type Reply = [number, number, number, number, number, number, number];

declare module 'ioredis' {
  interface RedisCommander<Context> {
    rateLimitCheck(
      burstKey: string,
      sustainedKey: string,
      burst: number,
      burstWindowMs: number,
      sustained: number,
      sustainedWindowMs: number,
      member: string,
    ): Result<Reply, Context>;
  }
}

export interface RedisLimiterOptions {
  /** Prefix of every key (default `rl:`). */
  prefix?: string;
}

/**
 * Sliding-window log in Redis: one EVALSHA per check (ioredis sends EVAL once
 * if the server lost the script).
 */
export function createRedisLimiter(redis: Redis, options: RedisLimiterOptions = {}): RateLimiter {
  const prefix = options.prefix ?? 'rl:';
  redis.defineCommand('rateLimitCheck', { numberOfKeys: 2, lua: RATE_LIMIT_LUA });
  // Members must be unique per accepted request: server time in µs plus this process's id and a counter.
  const processId = randomBytes(6).toString('base64url');
  let counter = 0;

  return {
    async check(key: string, rules: RateLimitRules): Promise<RateLimitResult> {
      // The hash tag keeps both windows of a key in one Redis Cluster slot.
      const base = `${prefix}{${key}}`;
      counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
      const [allowed, c1, w1, r1, c2, w2, r2] = await redis.rateLimitCheck(
        `${base}:b`,
        `${base}:s`,
        rules.burst,
        rules.burstWindowS * 1000,
        rules.sustained,
        rules.sustainedWindowS * 1000,
        `${processId}:${counter}`,
      );
      return summarize(allowed === 1, [
        { limit: rules.burst, count: c1, waitMs: w1, resetMs: r1 },
        { limit: rules.sustained, count: c2, waitMs: w2, resetMs: r2 },
      ]);
    },
  };
}
