import type { Breadcrumb, ErrorEvent } from '@sentry/node';
import { redactUrl, SECRET_NAME } from '../../lib/redact.js';

export type ErrorReporter = (err: unknown, context?: Record<string, unknown>) => void;

export interface ErrorReporting {
  report: ErrorReporter;
  /** Sends what is queued (bounded), then stops. */
  close(): Promise<void>;
}

/** Context keys that become searchable Sentry tags (the rest goes to `extra`). */
const TAGS: Record<string, string> = { requestId: 'request_id', route: 'route', job: 'job_id', type: 'job_type' };

/**
 * Sentry when SENTRY_DSN is set (loaded only then: it is heavy), else nothing.
 * Errors carry the request id or the job id as tags. Nothing secret leaves:
 * no default PII, and every event is scrubbed before sending (cookies, bodies,
 * credential headers, credential query values, secret-named extras).
 */
export async function createErrorReporter(dsn: string | undefined, environment: string): Promise<ErrorReporting> {
  if (!dsn) return { report: () => {}, close: async () => {} };
  const Sentry = await import('@sentry/node');
  Sentry.init({
    dsn,
    environment,
    sendDefaultPii: false,
    tracesSampleRate: 0,
    beforeSend: scrubEvent,
    beforeBreadcrumb: scrubBreadcrumb,
    // Our error handler reports 5xx with the request id; Sentry's own Fastify hook would report
    // the same error first, without it (and the duplicate would then be dropped).
    integrations: (defaults) => defaults.filter((integration) => integration.name !== 'Fastify'),
  });
  return {
    report(err, context = {}) {
      const tags: Record<string, string> = {};
      const extra: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(context)) {
        if (TAGS[key] && value !== undefined) tags[TAGS[key]] = String(value);
        else extra[key] = value;
      }
      Sentry.captureException(err, { tags, extra });
    },
    async close() {
      await Sentry.close(2000);
    },
  };
}

const REDACTED = '[redacted]';

function scrubRecord<T>(record: Record<string, T> | undefined): Record<string, T | string> | undefined {
  if (!record) return record;
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, SECRET_NAME.test(k) ? REDACTED : v]));
}

export function scrubEvent(event: ErrorEvent): ErrorEvent {
  if (event.request) {
    const { cookies: _cookies, data: _data, query_string: query, ...request } = event.request;
    event.request = {
      ...request,
      ...(request.url ? { url: redactUrl(request.url) } : {}),
      ...(request.headers ? { headers: scrubRecord(request.headers) as Record<string, string> } : {}),
      ...(typeof query === 'string' ? { query_string: redactUrl(`?${query}`).slice(1) } : {}),
    };
  }
  if (event.extra) event.extra = scrubRecord(event.extra);
  if (event.breadcrumbs) event.breadcrumbs = event.breadcrumbs.map(scrubBreadcrumb);
  return event;
}

export function scrubBreadcrumb(breadcrumb: Breadcrumb): Breadcrumb {
  if (!breadcrumb.data) return breadcrumb;
  const data = scrubRecord(breadcrumb.data)!;
  if (typeof data.url === 'string') data.url = redactUrl(data.url);
  return { ...breadcrumb, data };
}
