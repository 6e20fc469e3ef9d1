import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One registry per container (tests build many apps in one process).
 * Labels never hold shop names, ids or paths: routes are templates.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by method, route template and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by method, route template and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'queue_jobs',
      help: 'Jobs in the queue by state',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    jobsRunning: new Gauge({
      name: 'jobs_running',
      help: 'Jobs running in this process now',
      registers: [registry],
    }),
    jobs: new Counter({
      name: 'jobs_total',
      help: 'Finished jobs by type and outcome',
      labelNames: ['type', 'outcome'] as const,
      registers: [registry],
    }),
    providerLatency: new Histogram({
      name: 'provider_request_duration_seconds',
      help: 'Image provider call latency by operation and call',
      labelNames: ['operation', 'call'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    credits: new Counter({
      name: 'credits_total',
      help: 'Credits moved by the ledger, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'rate_limit_rejections_total',
      help: 'Requests refused by the rate limiter, by route group',
      labelNames: ['group'] as const,
      registers: [registry],
    }),
    rateLimiterFallbacks: new Counter({
      name: 'rate_limiter_fallbacks_total',
      help: 'Checks answered by the in-process limiter because Redis failed',
      registers: [registry],
    }),
    dbQueries: new Counter({
      name: 'db_queries_total',
      help: 'SQL statements sent to the database by this process',
      registers: [registry],
    }),
    credentialVerifications: new Counter({
      name: 'credential_verifications_total',
      help: 'Signature verifications of session cookies and session tokens',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
