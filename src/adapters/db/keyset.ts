import { type AnyColumn, type SQL, sql } from 'drizzle-orm';

/** The position of a row in a (created_at desc, id desc) listing. */
export interface Keyset {
  /** created_at as PostgreSQL text (microsecond precision). */
  at: string;
  id: string;
}

/** Selects created_at as text, for building the next cursor. */
export const keysetAt = (createdAt: AnyColumn): SQL<string> => sql<string>`${createdAt}::text`;

/** Rows strictly after the cursor in (created_at desc, id desc) order. */
export function afterKeyset(createdAt: AnyColumn, id: AnyColumn, after: Keyset): SQL {
  return sql`(${createdAt}, ${id}) < (${after.at}::timestamptz, ${after.id}::uuid)`;
}

/**
 * `created_at desc, id desc` spelled as the listing indexes are built (`DESC NULLS LAST`):
 * a plain `desc` means nulls first, which the planner cannot read from those indexes, so it
 * would sort every row of the shop. Both columns are NOT NULL: the order is the same.
 */
export const newestFirst = (createdAt: AnyColumn, id: AnyColumn): SQL[] => [
  sql`${createdAt} desc nulls last`,
  sql`${id} desc nulls last`,
];
