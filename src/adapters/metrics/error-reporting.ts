export type ErrorReporter = (err: unknown, context?: Record<string, unknown>) => void;

/**
 * Sentry when SENTRY_DSN is set (loaded only then: it is heavy), else nothing.
 * No request bodies, cookies or headers are sent (sendDefaultPii off).
 */
export async function createErrorReporter(dsn: string | undefined, environment: string): Promise<ErrorReporter> {
  if (!dsn) return () => {};
  const Sentry = await import('@sentry/node');
  Sentry.init({ dsn, environment, sendDefaultPii: false, tracesSampleRate: 0 });
  return (err, context) => {
    Sentry.captureException(err, context ? { extra: context } : undefined);
  };
}
