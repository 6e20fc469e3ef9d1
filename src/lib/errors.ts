/**
 * Typed domain errors. Domain code throws these; src/http/plugins/errors.ts
 * maps each kind to one HTTP status and error code.
 */
export type DomainErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'insufficient_credits'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'unavailable';

export class DomainError extends Error {
  override name = 'DomainError';
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    /** Machine-readable code; defaults per kind in the HTTP mapping. */
    readonly code?: string,
  ) {
    super(message);
  }
}

export class InvalidInputError extends DomainError {
  constructor(message: string, code?: string) {
    super('invalid', message, code);
  }
}

export class UnauthenticatedError extends DomainError {
  constructor(message = 'Authentication required') {
    super('unauthenticated', message);
  }
}

export class ForbiddenError extends DomainError {
  constructor(message = 'Forbidden', code?: string) {
    super('forbidden', message, code);
  }
}

export class NotFoundError extends DomainError {
  constructor(message = 'Not found') {
    super('not_found', message);
  }
}

export class InsufficientCreditsError extends DomainError {
  constructor(readonly remaining: number) {
    super('insufficient_credits', 'Not enough credits. Please purchase more.');
  }
}

export class PayloadTooLargeError extends DomainError {
  constructor(message = 'Payload too large', code?: string) {
    super('payload_too_large', message, code);
  }
}

export class UnsupportedMediaTypeError extends DomainError {
  constructor(message = 'Unsupported media type') {
    super('unsupported_media_type', message);
  }
}

export class RateLimitedError extends DomainError {
  constructor(
    readonly retryAfterSeconds: number,
    message = 'Rate limit exceeded',
    code?: string,
  ) {
    super('rate_limited', message, code);
  }
}

export class UnavailableError extends DomainError {
  constructor(
    message = 'Service unavailable',
    code?: string,
    /** Sent as Retry-After when set. */
    readonly retryAfterSeconds?: number,
  ) {
    super('unavailable', message, code);
  }
}

/** The shop did not grant access scopes a feature needs: 403 with the list, so a UI can ask for them. */
export class MissingScopesError extends DomainError {
  constructor(readonly scopes: string[]) {
    super('forbidden', `The app needs more access to your store: ${scopes.join(', ')}`, 'MISSING_SCOPES');
  }
}
