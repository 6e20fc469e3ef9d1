import net from 'node:net';

/**
 * Suites that need PostgreSQL or Redis skip when the server is down, unless
 * REQUIRE_SERVICES=1 (CI), where a missing server is a failure.
 */
export const REQUIRE_SERVICES = process.env.REQUIRE_SERVICES === '1';
export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_TEST_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || defaultPort) });
    socket.setTimeout(3000); // generous: a loaded 2-core machine can take over a second to accept
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function available(name: string, url: string, port: number): Promise<boolean> {
  const ok = await reachable(url, port);
  if (!ok && REQUIRE_SERVICES) throw new Error(`${name} at ${url} is required (REQUIRE_SERVICES=1) but unreachable`);
  return ok;
}

export const postgresAvailable = await available('PostgreSQL', PG_ADMIN_URL, 5432);
export const redisAvailable = await available('Redis', REDIS_TEST_URL, 6379);
