import fastifyUnderPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { UnavailableError } from '../../lib/errors.js';

/** Liveness, readiness and metrics answer under pressure too: a busy process is not a dead one. */
const EXEMPT = new Set(['/health', '/ready', '/metrics']);
const RETRY_AFTER_S = 5;
const SAMPLE_INTERVAL_MS = 250;

/**
 * Load shedding: while the event loop lags more than `maxEventLoopDelayMs`
 * or the heap holds more than `maxHeapUsedBytes` (0: not checked), requests
 * get 503 UNDER_PRESSURE with Retry-After instead of queueing behind the lag.
 */
export async function registerPressure(
  app: FastifyInstance,
  limits: { maxEventLoopDelayMs: number; maxHeapUsedBytes: number },
): Promise<void> {
  if (!limits.maxEventLoopDelayMs && !limits.maxHeapUsedBytes) return;
  // Start-up (compiling every route's schemas) stalls the loop once before the app serves anything:
  // not load. Pressure counts from the first sample windows after ready, which no longer hold that stall.
  let armedAt = Infinity;
  app.addHook('onReady', async () => {
    armedAt = performance.now() + 2 * SAMPLE_INTERVAL_MS;
  });
  await app.register(fastifyUnderPressure, {
    maxEventLoopDelay: limits.maxEventLoopDelayMs,
    maxHeapUsedBytes: limits.maxHeapUsedBytes,
    sampleInterval: SAMPLE_INTERVAL_MS,
    pressureHandler: async (request) => {
      if (EXEMPT.has(request.routeOptions.url ?? '') || performance.now() < armedAt) return;
      throw new UnavailableError('The server is overloaded, retry shortly', 'UNDER_PRESSURE', RETRY_AFTER_S);
    },
  });
}
