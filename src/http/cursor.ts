import { InvalidInputError } from '../lib/errors.js';
import type { Keyset } from '../adapters/db/keyset.js';

/**
 * Opaque keyset cursors: base64url of the last row's (created_at, id). The
 * timestamp is PostgreSQL's own text form, so microseconds survive the trip.
 */
export function encodeCursor(row: Keyset): string {
  return Buffer.from(JSON.stringify([row.at, row.id])).toString('base64url');
}

export function decodeCursor(cursor: string): Keyset {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (
      typeof at === 'string' &&
      /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}(:?\d{2})?|Z)?$/.test(at) &&
      typeof id === 'string' &&
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)
    ) {
      return { at, id };
    }
  } catch {
    // fall through
  }
  throw new InvalidInputError('Invalid cursor', 'INVALID_CURSOR');
}
