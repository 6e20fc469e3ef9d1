import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  DomainError,
  type DomainErrorKind,
  InsufficientCreditsError,
  MissingScopesError,
  RateLimitedError,
  UnavailableError,
} from '../../lib/errors.js';

/** The one place where errors become HTTP answers (shapes of api.md). */

const KIND_TO_HTTP: Record<DomainErrorKind, { status: number; code: string }> = {
  invalid: { status: 400, code: 'BAD_REQUEST' },
  unauthenticated: { status: 401, code: 'UNAUTHENTICATED' },
  forbidden: { status: 403, code: 'FORBIDDEN' },
  insufficient_credits: { status: 402, code: 'INSUFFICIENT_CREDITS' },
  not_found: { status: 404, code: 'NOT_FOUND' },
  conflict: { status: 409, code: 'CONFLICT' },
  payload_too_large: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  unsupported_media_type: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  rate_limited: { status: 429, code: 'RATE_LIMITED' },
  unavailable: { status: 503, code: 'UNAVAILABLE' },
};

/** Framework errors that are the client's fault, with a message safe to show. */
const STATUS_DEFAULTS: Record<number, { code: string; error: string }> = {
  400: { code: 'BAD_REQUEST', error: 'Bad request' },
  401: { code: 'UNAUTHENTICATED', error: 'Authentication required' },
  403: { code: 'FORBIDDEN', error: 'Forbidden' },
  404: { code: 'NOT_FOUND', error: 'Not found' },
  405: { code: 'METHOD_NOT_ALLOWED', error: 'Method not allowed' },
  406: { code: 'NOT_ACCEPTABLE', error: 'Not acceptable' },
  408: { code: 'REQUEST_TIMEOUT', error: 'Request timeout' },
  411: { code: 'LENGTH_REQUIRED', error: 'Length required' },
  413: { code: 'PAYLOAD_TOO_LARGE', error: 'Payload too large' },
  414: { code: 'URI_TOO_LONG', error: 'URI too long' },
  415: { code: 'UNSUPPORTED_MEDIA_TYPE', error: 'Unsupported media type' },
  429: { code: 'RATE_LIMITED', error: 'Rate limit exceeded' },
  431: { code: 'HEADERS_TOO_LARGE', error: 'Request header fields too large' },
  503: { code: 'UNAVAILABLE', error: 'Service unavailable' },
};

const FASTIFY_CODES: Record<string, { code: string; error: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'INVALID_JSON', error: 'Malformed JSON body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'INVALID_JSON', error: 'Empty JSON body' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'BAD_REQUEST', error: 'Content-Length does not match the body' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', error: 'Request body too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', error: 'Unsupported content type' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', error: 'Expected multipart/form-data' },
  FST_REQ_FILE_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', error: 'File too large' },
  FST_PARTS_LIMIT: { code: 'PAYLOAD_TOO_LARGE', error: 'Too many parts' },
  FST_FILES_LIMIT: { code: 'PAYLOAD_TOO_LARGE', error: 'Too many files' },
  FST_FIELDS_LIMIT: { code: 'PAYLOAD_TOO_LARGE', error: 'Too many fields' },
  FST_PROTO_VIOLATION: { code: 'BAD_REQUEST', error: 'Malformed multipart field name' },
};

export interface ErrorBody {
  error: unknown;
  code: string;
  details?: unknown[];
  /** MISSING_SCOPES: the scopes to ask the merchant for. */
  scopes?: string[];
  requestId?: string;
}

export function errorReply(error: unknown, requestId: string): { status: number; body: ErrorBody; headers?: Record<string, string> } {
  if (error instanceof DomainError) {
    const { status, code } = KIND_TO_HTTP[error.kind];
    if (error instanceof InsufficientCreditsError) {
      return {
        status,
        body: { error: { message: error.message, remaining_credits: error.remaining }, code },
      };
    }
    if (error instanceof MissingScopesError) {
      return { status, body: { error: error.message, code: error.code ?? code, scopes: error.scopes } };
    }
    const retryAfter =
      error instanceof RateLimitedError || error instanceof UnavailableError ? error.retryAfterSeconds : undefined;
    const headers = retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : undefined;
    return { status, body: { error: error.message, code: error.code ?? code }, ...(headers ? { headers } : {}) };
  }

  const fe = error as Partial<FastifyError> & { validationContext?: string };
  if (Array.isArray(fe.validation)) {
    return {
      status: 400,
      body: {
        error: 'Invalid request',
        code: 'VALIDATION_FAILED',
        details: fe.validation.map((v) => ({
          in: fe.validationContext,
          path: v.instancePath || '/',
          message: v.message,
          ...(v.params && 'additionalProperty' in v.params ? { property: v.params.additionalProperty } : {}),
        })),
      },
    };
  }

  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    const known = (fe.code && FASTIFY_CODES[fe.code]) || STATUS_DEFAULTS[status] || STATUS_DEFAULTS[400]!;
    return { status, body: { error: known.error, code: known.code } };
  }
  if (status === 503) return { status, body: { ...STATUS_DEFAULTS[503]!, requestId } };
  return { status: 500, body: { error: 'Internal Server Error', code: 'INTERNAL', requestId } };
}

export function registerErrorHandling(app: FastifyInstance, report: (err: unknown, context: Record<string, unknown>) => void): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body, headers } = errorReply(error, request.id);
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
      report(error, { requestId: request.id, route: request.routeOptions.url });
    }
    else request.log.info({ code: body.code, status }, 'request rejected');
    if (headers) void reply.headers(headers);
    return reply.status(status).send(body);
  });

  app.setNotFoundHandler((_request, reply) => reply.status(404).send({ error: 'Not found', code: 'NOT_FOUND' }));
}
