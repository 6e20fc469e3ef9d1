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
