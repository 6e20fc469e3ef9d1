import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UnavailableError } from '../../lib/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Gives back this request's slot in the unauthenticated-body budget (idempotent). */
    releaseBodySlot: (() => void) | null;
  }
}

/** Seconds a client refused for lack of a slot is told to wait. */
const RETRY_AFTER_S = 1;
const MULTIPART = /^\s*multipart\/form-data/i;

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/**
 * Fastify reads a JSON (or webhook) body before any preHandler runs, so those
 * bodies are buffered before anyone is authenticated. At most `max` of them are
 * read at once; the rest get 503 with Retry-After before a byte is read.
 * Multipart routes authenticate first and read their body in the handler, so
 * they do not count.
 */
export function registerBodyBudget(app: FastifyInstance, max: number): void {
  let inFlight = 0;
  app.decorateRequest('releaseBodySlot', null);
  // Callback-style hooks: no promise per request for synchronous work.
  app.addHook('onRequest', (request, _reply, done) => {
    if (!hasBody(request) || MULTIPART.test(request.headers['content-type'] ?? '')) return done();
    if (inFlight >= max) return done(new UnavailableError('Too many requests in progress, retry shortly', 'BUSY', RETRY_AFTER_S));
    inFlight++;
    let held = true;
    request.releaseBodySlot = () => {
      if (held) inFlight--;
      held = false;
    };
    done();
  });
  const release = (request: FastifyRequest, _reply: unknown, done: () => void) => {
    request.releaseBodySlot?.();
    done();
  };
  // The body is read once preValidation runs; an aborted or failed request gives its slot back too.
  app.addHook('preValidation', release);
  app.addHook('onResponse', release);
  app.addHook('onRequestAbort', (request, done) => {
    request.releaseBodySlot?.();
    done();
  });
}
