/**
 * `npm run bench`: measures ratios in one run on one machine (this machine is
 * shared and noisy, so absolute numbers mean little):
 *   - HTTP: our /health, /me (cookie auth + database) and /credits/plans against
 *     a bare Fastify handler, each server in its own process, loaded by autocannon;
 *   - the image pipeline: our local processor against raw sharp doing the same work;
 *   - memory: the API's RSS before and after the load;
 *   - start-up of the built tree to its first /health 200 (bench/startup.ts);
 *   - a catalogue batch against the fake Shopify (bench/catalogue.ts).
 * Writes bench/REPORT.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { createLocalProcessor } from '../src/adapters/processor/local.js';
import { createPostgresDatabase } from '../test/helpers/db.js';
import { freePort, spawnEntry, waitFor } from '../test/helpers/process.js';
import { postgresAvailable } from '../test/helpers/services.js';
import { startupBench, startupReport } from './startup.js';
import { dashboardBench } from './dashboard.js';
import { catalogueBench, catalogueReport } from './catalogue.js';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, headers: Record<string, string> = {}): Promise<Load> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, headers });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx };
}

async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function startApi(extraEnv: Record<string, string> = {}) {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const proc = spawnEntry('src/main/api.ts', {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    // The limiter must not refuse the load; its cost is still paid on limited routes.
    RL_BURST_LIMIT: '1000000',
    RL_SUST_LIMIT: '1000000',
    ...extraEnv,
  });
  // A first start on a fresh PGlite data dir takes tens of seconds on a loaded machine.
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 120_000, 'api');
  const login = await fetch(`http://127.0.0.1:${port}/auth/dev-login?shop=bench.myshopify.com`);
  const { token } = (await login.json()) as { token: string };
  return {
    port,
    proc,
    cookie: `session=${token}`,
    async stop() {
      proc.child.kill('SIGTERM');
      await proc.exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** /me with PostgreSQL instead of PGlite (the production database), when the server is there. */
async function postgresBench(): Promise<Load | null> {
  if (!postgresAvailable) return null;
  const database = await createPostgresDatabase();
  const api = await startApi({ DATABASE_URL: database.url });
  try {
    await load(`http://127.0.0.1:${api.port}/me`, { cookie: api.cookie });
    return await load(`http://127.0.0.1:${api.port}/me`, { cookie: api.cookie });
  } finally {
    await api.stop();
    await database.drop();
  }
}

async function httpBench() {
  const barePort = await freePort();
  const bare = spawnEntry('bench/bare-server.ts', { PORT: String(barePort) });
  const embedded = await startApi();
  const apiPort = embedded.port;
  const api = embedded.proc;
  const cookie = embedded.cookie;
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${barePort}/health`)).ok, 90_000, 'bare server');

    // Warm both up, then measure alternately so drift hits both.
    await load(`http://127.0.0.1:${barePort}/health`);
    await load(`http://127.0.0.1:${apiPort}/health`);
    const rssBefore = await rssOf(api.child.pid!);
    const bareHealth = await load(`http://127.0.0.1:${barePort}/health`);
    const ourHealth = await load(`http://127.0.0.1:${apiPort}/health`);
    const plans = await load(`http://127.0.0.1:${apiPort}/credits/plans`);
    const me = await load(`http://127.0.0.1:${apiPort}/me`, { cookie });
    const rssAfter = await rssOf(api.child.pid!);
    return { bareHealth, ourHealth, plans, me, rssBefore, rssAfter };
  } finally {
    bare.child.kill('SIGTERM');
    await Promise.all([bare.exited, embedded.stop()]);
  }
}

async function time(fn: () => Promise<unknown>, runs: number): Promise<number> {
  await fn(); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) await fn();
  return Number(process.hrtime.bigint() - start) / 1e6 / runs;
}

async function pipelineBench() {
  const input = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: { r: 240, g: 240, b: 240 } } })
    .composite([
      {
        input: await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: 180, g: 40, b: 60 } } }).png().toBuffer(),
        gravity: 'center',
      },
    ])
    .jpeg({ quality: 90 })
    .toBuffer();
  const processor = createLocalProcessor({ maxInputPixels: 50_000_000 });
  const job = (operation: 'upscale' | 'downscale' | 'remove-bg') => ({
    imageId: '00000000-0000-4000-8000-000000000000',
    operation,
    loadInput: async () => input,
    inputUrl: async () => 'http://unused',
    providerTaskId: null,
    saveProviderTaskId: async () => {},
    deadline: new Date(Date.now() + 60_000),
  });
  const runs = 5;
  const ourUpscale = await time(() => processor.process(job('upscale')), runs);
  const rawUpscale = await time(() => sharp(input).resize(3200, 2400, { kernel: 'lanczos3' }).png().toBuffer(), runs);
  const ourDownscale = await time(() => processor.process(job('downscale')), runs);
  const rawDownscale = await time(() => sharp(input).resize(800).png().toBuffer(), runs);
  const removeBg = await time(() => processor.process(job('remove-bg')), runs).catch(() => null);
  return { ourUpscale, rawUpscale, ourDownscale, rawDownscale, removeBg, inputBytes: input.length };
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);

const http = await httpBench();
const mePostgres = await postgresBench();
const pipeline = await pipelineBench();
const startup = await startupBench();
const dashboard = await dashboardBench();
const catalogueRun = await catalogueBench();
const ratio = (a: number, b: number) => fmt(a / b, 2);

const report = `# Benchmark report

Generated by \`npm run bench\` on ${new Date().toISOString()}.
Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${fmt(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}.
The machine is shared: compare the ratios (both sides measured in the same run), not the absolute numbers.
Load: autocannon, ${CONNECTIONS} connections, ${DURATION_S} s per target; each server in its own process.

## HTTP

| target | req/s | p50 ms | p99 ms | errors | non-2xx |
|---|---:|---:|---:|---:|---:|
| bare Fastify \`/health\` | ${fmt(http.bareHealth.rps, 0)} | ${http.bareHealth.p50} | ${http.bareHealth.p99} | ${http.bareHealth.errors} | ${http.bareHealth.non2xx} |
| our \`/health\` (all hooks: request id, security headers, metrics, rate limit exemption) | ${fmt(http.ourHealth.rps, 0)} | ${http.ourHealth.p50} | ${http.ourHealth.p99} | ${http.ourHealth.errors} | ${http.ourHealth.non2xx} |
| our \`/credits/plans\` (rate limited by IP, in-process) | ${fmt(http.plans.rps, 0)} | ${http.plans.p50} | ${http.plans.p99} | ${http.plans.errors} | ${http.plans.non2xx} |
| our \`/me\` (cookie JWT, shop lookup and balance in PGlite) | ${fmt(http.me.rps, 0)} | ${http.me.p50} | ${http.me.p99} | ${http.me.errors} | ${http.me.non2xx} |
${mePostgres ? `| our \`/me\` on PostgreSQL (separate run) | ${fmt(mePostgres.rps, 0)} | ${mePostgres.p50} | ${mePostgres.p99} | ${mePostgres.errors} | ${mePostgres.non2xx} |\n` : ''}
- our \`/health\` ÷ bare: **${ratio(http.ourHealth.rps, http.bareHealth.rps)}** of the throughput.
- \`/credits/plans\` ÷ our \`/health\`: **${ratio(http.plans.rps, http.ourHealth.rps)}** (the in-process limiter's and the serializer's cost).
- \`/me\` ÷ our \`/health\`: **${ratio(http.me.rps, http.ourHealth.rps)}** (two JWT verifications and three queries; PGlite is one
  single-threaded WebAssembly PostgreSQL, about 0.5 ms a query here, so embedded mode is for one merchant's worth of load${mePostgres ? `; on PostgreSQL \`/me\` does ${fmt(mePostgres.rps, 0)} req/s` : ''}).
- API memory (RSS): ${fmt(http.rssBefore)} MiB before the measured load, ${fmt(http.rssAfter)} MiB after.

## Image pipeline (local processor, 1600×1200 JPEG of ${fmt(pipeline.inputBytes / 1024)} KiB, mean of 5 runs)

| operation | ours ms | raw sharp ms | ratio |
|---|---:|---:|---:|
| upscale 2× (Lanczos, PNG) | ${fmt(pipeline.ourUpscale)} | ${fmt(pipeline.rawUpscale)} | ${ratio(pipeline.ourUpscale, pipeline.rawUpscale)} |
| downscale (PNG) | ${fmt(pipeline.ourDownscale)} | ${fmt(pipeline.rawDownscale)} | ${ratio(pipeline.ourDownscale, pipeline.rawDownscale)} |
| remove-bg | ${pipeline.removeBg === null ? 'n/a' : fmt(pipeline.removeBg)} | – | – |

The raw-sharp column does the same resize and PNG encode without our decoding checks,
pixel limits and re-encoding; downscale's raw figure is a single halving, while ours
searches for the largest size whose PNG fits 2 MB.

## Dashboard first load (Chromium, empty cache, median of ${dashboard.runs})

| figure | value | target |
|---|---:|---:|
| time until Home shows the credits | ${fmt(dashboard.creditsVisibleMs, 0)} ms (worst ${fmt(dashboard.worstMs, 0)} ms; cached assets ${fmt(dashboard.warmMs, 0)} ms) | < 2000 ms |
| JS + CSS transferred (${dashboard.encoding}) | ${fmt((dashboard.jsBytes + dashboard.cssBytes) / 1024)} KiB (JS ${fmt(dashboard.jsBytes / 1024)}, CSS ${fmt(dashboard.cssBytes / 1024)}) in ${dashboard.requests} requests | < 500 KB |
| the same files gzip-encoded | ${fmt(dashboard.gzipBytes / 1024)} KiB | < 500 KB |

The built API in its own process (embedded mode, PGlite) on localhost; the time runs from the
start of navigation to the page's \`credits-visible\` mark, so it includes index.html, the
assets, React's start, \`GET /me\` and the first render. The other pages load on demand.

${startupReport(startup)}
${catalogueReport(catalogueRun)}`;

writeFileSync(new URL('./REPORT.md', import.meta.url), report);
process.stdout.write(report);
