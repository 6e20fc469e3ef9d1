import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { DB_KINDS } from '../helpers/db.js';

/** Every cursor route validates a cursor fully at decode: a crafted one is a 400 INVALID_CURSOR, never a 500. */
const ROUTES = ['/images', '/credits/transactions'];
const UUID = '7d4f8a4e-1111-4111-8111-111111111111';
const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const CRAFTED: Array<[string, string]> = [
  ['30 February', cursor(['2026-02-30 10:00:00.123456+00', UUID])],
  ['29 February of a common year', cursor(['2025-02-29 10:00:00+00', UUID])],
  ['month 13', cursor(['2026-13-01 10:00:00+00', UUID])],
  ['month 0', cursor(['2026-00-10 10:00:00+00', UUID])],
  ['day 0', cursor(['2026-01-00 10:00:00+00', UUID])],
  ['hour 24', cursor(['2026-01-01 24:00:00+00', UUID])],
  ['minute 60', cursor(['2026-01-01 23:60:00+00', UUID])],
  ['second 60', cursor(['2026-01-01 23:59:60+00', UUID])],
  ['year 0', cursor(['0000-01-01 00:00:00+00', UUID])],
  ['an offset of 16 hours', cursor(['2026-01-01 00:00:00+16', UUID])],
  ['an offset minute of 75', cursor(['2026-01-01 00:00:00+01:75', UUID])],
  ['a bad uuid', cursor(['2026-01-01 00:00:00+00', 'zzzzzzzz-1111-4111-8111-111111111111'])],
  ['a uuid without dashes', cursor(['2026-01-01 00:00:00+00', UUID.replace(/-/g, '')])],
  ['a number for the id', cursor(['2026-01-01 00:00:00+00', 42])],
  ['three elements', cursor(['2026-01-01 00:00:00+00', UUID, 'x'])],
  ['an object', cursor({ at: '2026-01-01 00:00:00+00', id: UUID })],
  ['a number', cursor(12)],
  ['null', cursor(null)],
  ['garbage', 'not-base64-!!'],
  ['base64 of garbage', Buffer.from('\u0000\u00ff{[').toString('base64url')],
];

describe.each(DB_KINDS)('crafted cursors on %s', (db) => {
  let t: TestApp;
  let cookie: string;
  beforeAll(async () => {
    t = await createTestApp({ db });
    ({ cookie } = await devLogin(t.app, 'cursor.myshopify.com'));
  });
  afterAll(() => t.close());

  for (const route of ROUTES) {
    it.each(CRAFTED)(`${route} with %s is 400 INVALID_CURSOR`, async (_label, value) => {
      const res = await t.app.inject({ url: `${route}?cursor=${encodeURIComponent(value)}`, headers: { cookie } });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ error: 'Invalid cursor', code: 'INVALID_CURSOR' });
    });

    it(`${route} accepts a real calendar date (29 February of a leap year, an offset with minutes)`, async () => {
      for (const at of ['2024-02-29 23:59:59.999999+00', '2026-06-30 12:00:00+05:30', '2026-01-01T00:00:00Z']) {
        const res = await t.app.inject({ url: `${route}?cursor=${cursor([at, UUID])}`, headers: { cookie } });
        expect(res.statusCode).toBe(200);
      }
    });
  }
});
