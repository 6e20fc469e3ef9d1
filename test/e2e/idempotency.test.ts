import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { queryRows } from '../../src/adapters/db/client.js';
import { balanceOf } from '../../src/modules/ledger/ledger.js';
import { createTestApp, devLogin } from '../helpers/app.js';
import { DB_KINDS } from '../helpers/db.js';
import { productShot, uploadForm } from '../helpers/images.js';

describe.each(DB_KINDS)('Idempotency-Key under the last credit on %s', (db) => {
  it('concurrent same-key uploads with one credit left all get the first 202 body; one debit, one image', async () => {
    const t = await createTestApp({ db, env: { FREE_CREDITS: '1' } });
    try {
      const shop = 'lastcredit.myshopify.com';
      const { cookie } = await devLogin(t.app, shop);
      const form = uploadForm(await productShot(), 'downscale');
      const answers = await Promise.all(
        Array.from({ length: 12 }, () =>
          t.app.inject({
            method: 'POST',
            url: '/upload',
            payload: form.payload,
            headers: { ...form.headers, cookie, 'idempotency-key': 'last-one' },
          }),
        ),
      );
      expect(answers.map((a) => a.statusCode)).toEqual(Array(12).fill(202));
      const bodies = new Set(answers.map((a) => a.body));
      expect(bodies.size).toBe(1);
      expect(JSON.parse([...bodies][0]!)).toMatchObject({ status: 'queued', remaining_credits: 0 });
      expect(await balanceOf(t.container.db, shop)).toBe(0);
      const [images] = await queryRows<{ n: number }>(t.container.db, sql`select count(*)::int as n from images where shop = ${shop}`);
      expect(images!.n).toBe(1);
      // Another key now meets the empty balance.
      const other = await t.app.inject({
        method: 'POST',
        url: '/upload',
        payload: form.payload,
        headers: { ...form.headers, cookie, 'idempotency-key': 'another' },
      });
      expect(other.statusCode).toBe(402);
    } finally {
      await t.close();
    }
  });
});
