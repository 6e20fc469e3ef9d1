/**
 * The minimal peer of our authenticated reads: Fastify, jose HS256 verify with a
 * CryptoKey imported once, and the same SQL our API runs (the installed-shop +
 * balance join for the session, the keyset query for GET /images), nothing else.
 * Reads the `session` cookie our API issues (signed with JWT_SECRET).
 * Env: PORT, JWT_SECRET, and DATABASE_URL (pg pool 10) or PGLITE_DIR (its own copy
 * of a migrated PGlite data dir: two processes cannot share one).
 */
import { webcrypto } from 'node:crypto';
import Fastify from 'fastify';
import { jwtVerify } from 'jose';
import pg from 'pg';

interface Sql {
  query<T>(text: string, params: unknown[]): Promise<T[]>;
}

async function openSql(): Promise<Sql> {
  if (process.env.DATABASE_URL) {
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
    return { query: async <T>(text: string, params: unknown[]) => (await pool.query(text, params)).rows as T[] };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create(process.env.PGLITE_DIR!);
  return { query: async <T>(text: string, params: unknown[]) => (await db.query<T>(text, params)).rows };
}

const SESSION_SQL = `select s.plan, coalesce(c.balance, 0) as credits, s.access_token_enc is not null as has_token
  from shops s left join shop_credits c on c.shop = s.domain
  where s.domain = $1 and s.installed_at is not null and s.uninstalled_at is null`;
const IMAGE_COLUMNS = `id, status, operation, filename, original_path, processed_path, error_message, created_at, updated_at, created_at::text as at`;
const ORDER = `order by created_at desc nulls last, id desc nulls last limit $2`;
const FIRST_PAGE_SQL = `select ${IMAGE_COLUMNS} from images where shop = $1 ${ORDER}`;
const AFTER_SQL = `select ${IMAGE_COLUMNS} from images where shop = $1 and (created_at, id) < ($3::timestamptz, $4::uuid) ${ORDER}`;

interface ImageRow {
  id: string;
  status: string;
  operation: string;
  filename: string;
  original_path: string;
  processed_path: string | null;
  error_message: string | null;
  created_at: Date;
  updated_at: Date;
  at: string;
}

const sql = await openSql();
const key = await webcrypto.subtle.importKey('raw', Buffer.from(process.env.JWT_SECRET!, 'utf8'), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
const app = Fastify();

function cookieToken(header: string | undefined): string | null {
  const m = header ? /(?:^|;\s*)session=([^;]+)/.exec(header) : null;
  return m ? m[1]! : null;
}

/** The installed shop's session row, or null (then the peer answers 401 as ours does). */
async function session(cookie: string | undefined) {
  const token = cookieToken(cookie);
  if (!token) return null;
  let shop: string;
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], requiredClaims: ['exp', 'iat', 'sub'] });
    shop = String(payload.shop);
  } catch {
    return null;
  }
  const [row] = await sql.query<{ plan: string; credits: number }>(SESSION_SQL, [shop]);
  return row ? { shop, plan: row.plan, credits: Number(row.credits) } : null;
}

app.get('/health', async () => ({ ok: true }));

app.get('/credits/me', async (request, reply) => {
  const s = await session(request.headers.cookie);
  return s ? { credits: s.credits } : reply.code(401).send({ error: 'unauthenticated' });
});

app.get('/me', async (request, reply) => {
  const s = await session(request.headers.cookie);
  return s ? { shop: s.shop, status: 'authenticated', plan: s.plan, credits: s.credits } : reply.code(401).send({ error: 'unauthenticated' });
});

app.get<{ Querystring: { limit?: string; cursor?: string } }>('/images', async (request, reply) => {
  const s = await session(request.headers.cookie);
  if (!s) return reply.code(401).send({ error: 'unauthenticated' });
  const limit = Number(request.query.limit ?? 100);
  const after = request.query.cursor ? (JSON.parse(Buffer.from(request.query.cursor, 'base64url').toString()) as [string, string]) : null;
  const rows = after
    ? await sql.query<ImageRow>(AFTER_SQL, [s.shop, limit + 1, after[0], after[1]])
    : await sql.query<ImageRow>(FIRST_PAGE_SQL, [s.shop, limit + 1]);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    images: page.map((r) => ({
      id: r.id,
      status: r.status,
      operation: r.operation,
      filename: r.filename,
      original_path: r.original_path,
      processed_path: r.processed_path,
      error_message: r.error_message,
      created_at: new Date(r.created_at).toISOString(),
      updated_at: new Date(r.updated_at).toISOString(),
    })),
    next_cursor: rows.length > limit && last ? Buffer.from(JSON.stringify([last.at, last.id])).toString('base64url') : null,
  };
});

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void app.close().then(() => process.exit(0)));
