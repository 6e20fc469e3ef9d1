import fastifyUnderPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { UnavailableError } from '../../lib/errors.js';

/** Liveness, readiness and metrics answer under pressure too: a busy process is not a dead one. */
const EXEMPT = new Set(['/health', '/ready', '/metrics']);
const RETRY_AFTER_S = 5;

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
  await app.register(fastifyUnderPressure, {
    maxEventLoopDelay: limits.maxEventLoopDelayMs,
    maxHeapUsedBytes: limits.maxHeapUsedBytes,
    sampleInterval: 250,
    pressureHandler: async (request) => {
      if (EXEMPT.has(request.routeOptions.url ?? '')) return;
      throw new UnavailableError('The server is overloaded, retry shortly', 'UNDER_PRESSURE', RETRY_AFTER_S);
    },
  });
}
