import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { API_TYPES_FILE, renderApiTypes } from '../../scripts/api-types.js';

it("the dashboard's API types are what `npm run gen:api` makes of the routes' schemas", async () => {
  const committed = readFileSync(API_TYPES_FILE, 'utf8');
  const fresh = await renderApiTypes();
  expect(fresh.length).toBeGreaterThan(10_000);
  expect(fresh === committed, 'web/src/api/schema.d.ts is stale: run npm run gen:api').toBe(true);
}, 120_000);
