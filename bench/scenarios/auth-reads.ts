/**
 * Scenario (1): authenticated reads (`GET /credits/me`, `GET /me`) on PGlite and on
 * PostgreSQL against the minimal peer (bench/peers/auth-peer.ts) on the same data, and
 * the SQL statements and JWT verifications each request costs (from /metrics).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPostgresDatabase } from '../../test/helpers/db.js';
import { postgresAvailable } from '../../test/helpers/services.js';
import { alternate, backgroundRate, counterPerRequest, cpuPerRequest, nodeFlagsOf, stopAll, withExitedOutput } from '../lib/compare.js';
import { type Figure, figure, round, type Scenario } from '../lib/report.js';
import { type Api, BENCH_SECRET, type Proc, startApi, startTs } from '../lib/servers.js';

const ID = 'auth-reads';
const ROUTES = ['/credits/me', '/me'] as const;
const LOAD_S = Number(process.env.BENCH_AUTH_LOAD_S ?? 2);
const COUNTED_REQUESTS = 500;
const IDLE_MS = 3000;
const CPU_LOAD_S = 2;
/** Warm-up of each side before the measured loads: our larger app takes longer to reach V8's optimised code. */
const WARMUP_S = 3;

interface Side {
  api: Api;
  cookie: string;
  peerEnv: Record<string, string>;
  cleanup: () => Promise<void>;
}

/** Our API on a fresh PostgreSQL database, its shop installed; the peer reads the same database. */
async function postgresSide(): Promise<Side> {
  const database = await createPostgresDatabase();
  const api = await startApi({ DATABASE_URL: database.url });
  const { cookie } = await api.login();
  return { api, cookie, peerEnv: { DATABASE_URL: database.url }, cleanup: () => database.drop() };
}

/**
 * Our API on PGlite: started once to migrate and install the shop, stopped, its database
 * copied for the peer (two processes cannot open one PGlite dir), then started again.
 */
async function pgliteSide(): Promise<Side> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-auth-'));
  const peerDir = mkdtempSync(path.join(os.tmpdir(), 'bench-auth-peer-'));
  const seed = await startApi({}, { dataDir });
  const { cookie } = await seed.login();
  await seed.stop();
  cpSync(path.join(dataDir, 'db'), peerDir, { recursive: true });
  const api = await startApi({}, { dataDir });
  return {
    api,
    cookie,
    peerEnv: { PGLITE_DIR: peerDir },
    cleanup: async () => {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(peerDir, { recursive: true, force: true });
    },
  };
}

async function measure(db: 'PGlite' | 'PostgreSQL', open: () => Promise<Side>): Promise<{ figures: Figure[]; flags: string }> {
  const stoppers: Array<() => Promise<unknown>> = [];
  const watched: Proc[] = [];
  try {
    const side = await open();
    stoppers.push(side.cleanup, () => side.api.stop());
    watched.push(side.api);
    // The peer runs under the V8 flags start.mjs gave our API (read from the live process).
    const flags = nodeFlagsOf(side.api.pid);
    const peer = await startTs('bench/peers/auth-peer.ts', { ...side.peerEnv, JWT_SECRET: BENCH_SECRET }, flags);
    stoppers.push(() => peer.stop());
    watched.push(peer);
    const headers = { cookie: side.cookie };
    const figures: Figure[] = [];
    // The embedded queue polls its table every second: that is not the requests' cost.
    const queriesPerMs = await backgroundRate(side.api.base, 'db_queries_total', IDLE_MS);
    for (const route of ROUTES) {
      const check = await fetch(`${peer.base}${route}`, { headers });
      if (!check.ok) throw new Error(`peer ${route}: ${check.status}`);
      const counted = { n: COUNTED_REQUESTS, url: `${side.api.base}${route}`, headers };
      const queries = await counterPerRequest(side.api.base, 'db_queries_total', { ...counted, perMs: queriesPerMs });
      const verifications = await counterPerRequest(side.api.base, 'credential_verifications_total', counted);
      const { ours, peer: theirs } = await alternate(`${side.api.base}${route}`, `${peer.base}${route}`, { headers, durationS: LOAD_S, warmupS: WARMUP_S });
      const [oursCpu] = await cpuPerRequest(`${side.api.base}${route}`, [side.api.pid], { headers, durationS: CPU_LOAD_S });
      const [peerCpu] = await cpuPerRequest(`${peer.base}${route}`, [peer.pid], { headers, durationS: CPU_LOAD_S });
      if (ours.errors || ours.non2xx || theirs.errors || theirs.non2xx) throw new Error(`${db} ${route}: errors or non-2xx under load`);
      figures.push(
        figure(ID, `${db} ${route} throughput`, { value: ours.rps, baseline: theirs.rps, unit: 'req/s', on: 'ratio', atLeast: 0.8, note: `p50 ${ours.p50} ms (peer ${theirs.p50} ms)` }),
        figure(ID, `${db} ${route} CPU per request (baseline: peer)`, {
          value: oursCpu! * 1000,
          baseline: peerCpu! * 1000,
          unit: 'µs',
          note: 'the server process alone (not the database)',
        }),
        figure(ID, `${db} ${route} SQL statements per request`, { value: round(queries, 1), unit: 'queries', atLeast: 1, atMost: 1 }),
        figure(ID, `${db} ${route} JWT verifications per request`, { value: round(verifications, 1), unit: 'verifications', atLeast: 1, atMost: 1 }),
      );
    }
    return { figures, flags: flags.join(' ') || '(none)' };
  } catch (err) {
    throw withExitedOutput(err, watched);
  } finally {
    await stopAll(stoppers);
  }
}

export const scenario: Scenario = {
  id: ID,
  title: 'Authenticated reads vs a minimal peer',
  async run() {
    const pglite = await measure('PGlite', pgliteSide);
    const postgres = postgresAvailable ? await measure('PostgreSQL', postgresSide) : null;
    const figures = [...pglite.figures, ...(postgres?.figures ?? [])];
    const notes = [
      'Set-up: our built API started by `scripts/start.mjs` (limits raised, so the limiter is still consulted on every request) ' +
        'and `bench/peers/auth-peer.ts` (Fastify + jose HS256 verify with a CryptoKey imported once + the same installed-shop/balance ' +
        'join, pg pool 10 on PostgreSQL, or PGlite on its own copy of the migrated data dir), both reading the same `session` cookie ' +
        `signed with the bench secret. V8 flags: ours \`${pglite.flags}\`, the peer the same (read from our process's command line).`,
      `Method: per route, a ${WARMUP_S} s warm-up of each, then ours, peer, peer, ours (autocannon, 20 connections, ${LOAD_S} s each), each side's mean; ` +
        `CPU per request is \`/proc/<pid>/stat\` user+system time over one more load of each, ÷ requests; statements and verifications are the increase of \`db_queries_total\` and \`credential_verifications_total\` over ${COUNTED_REQUESTS} sequential requests, less the background rate measured over ${IDLE_MS / 1000} s idle (the embedded queue polls its table every second), so they are good to about ±0.02 and shown to one decimal; test/e2e/hot-paths.test.ts counts them exactly.`,
      ...(postgres ? [] : ['PostgreSQL was not reachable: only PGlite was measured.']),
      'Where the time goes (CPU profiles of our API and of the peer, `--cpu-prof`, 10 connections on `/credits/me`, PostgreSQL, ' +
        'µs of CPU per request in the steady part): @fastify/helmet rebuilt the helmet middleware and set each header on the raw ' +
        'response for every request (helmet and the headers it wrote were about 30 µs, plus garbage collection 23 µs against the ' +
        "peer's 4); the app now computes helmet's headers once with helmet itself and sets them with the request id in one hook, " +
        'and its synchronous hooks are callbacks (no promise each). An A/B of the two builds on one database (10 alternating 3 s ' +
        'loads) gave 378 -> 298 µs per `/credits/me` and 336 -> 252 µs per `/me`; the profile then showed 300 µs per request against ' +
        "the peer's 271, the rest spread thin: socket writes, the HMAC verification (the peer pays it too), metrics, the in-process " +
        "limiter's check, logging. The session query is prepared once per database handle (`installedShopSummary`). The warm-up " +
        `is ${WARMUP_S} s a side: with 1 s the first route measured after a start (\`/credits/me\`) lagged the second on PGlite. ` +
        'The machine is shared: throughput ratios move by about ±0.15 from run to run, CPU per request less.',
    ];
    return { figures, notes: notes.join('\n\n') };
  },
};
