import { InvalidInputError } from '../lib/errors.js';
import type { Keyset } from '../adapters/db/keyset.js';

/**
 * Opaque keyset cursors: base64url of the last row's (created_at, id). The
 * timestamp is PostgreSQL's own text form, so microseconds survive the trip.
 * A cursor is client input: decoding checks every part fully (a real calendar
 * date and time, an offset PostgreSQL accepts, a UUID), so a crafted one is a
 * 400 INVALID_CURSOR and never reaches the database's cast.
 */
export function encodeCursor(row: Keyset): string {
  return Buffer.from(JSON.stringify([row.at, row.id])).toString('base64url');
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(?:([+-])(\d{2})(?::?(\d{2}))?|Z)?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A timestamp PostgreSQL would read as the same instant we wrote: no 25th hour, no 30 February, no year 0. */
export function isValidTimestamp(text: string): boolean {
  const m = TIMESTAMP.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const offsetHours = m[9] === undefined ? 0 : Number(m[9]);
  const offsetMinutes = m[10] === undefined ? 0 : Number(m[10]);
  return (
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHours <= 15 &&
    offsetMinutes <= 59
  );
}

export function decodeCursor(cursor: string): Keyset {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(parsed) && parsed.length === 2) {
      const [at, id] = parsed as unknown[];
      if (typeof at === 'string' && isValidTimestamp(at) && typeof id === 'string' && UUID.test(id)) return { at, id };
    }
  } catch {
    // fall through
  }
  throw new InvalidInputError('Invalid cursor', 'INVALID_CURSOR');
}
