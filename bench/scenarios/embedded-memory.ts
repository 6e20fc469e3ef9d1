/**
 * Scenario 8: the embedded API's memory and start-up, from the built tree the way
 * `npm start` runs it (scripts/start.mjs: lean-memory V8 flags).
 * - First start on a fresh data dir: time to the first /health 200 and the peak RSS
 *   (VmHWM) until then; the idle RSS once it has settled; the RSS after a short load
 *   of authenticated reads and uploads.
 * - Start-up with an existing data dir: median of interleaved runs of
 *   `node scripts/start.mjs api` and `npm start`, wall and CPU time, against a bare
 *   Fastify process started the same way (the machine's own start-up cost).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { productShot, uploadForm } from '../../test/helpers/images.js';
import { freePort, waitFor } from '../../test/helpers/process.js';
import { cpuMs } from '../lib/compare.js';
import { figure, median, round, type Scenario } from '../lib/report.js';
import { ensureBuilt, load, peakRssMiB, rssMiB, startApi } from '../lib/servers.js';

const ID = 'embedded-memory';
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 3);
/** CPU seconds (user + system) of a process and its descendants so far (npm start runs node under npm under sh). */
function treeCpuSeconds(pid: number): number {
  let total = cpuMs(pid, { waitedChildren: true }) / 1000;
  for (const child of spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
    total += treeCpuSeconds(Number(child));
  }
  return total;
}

/** Starts `argv` until /health answers; returns wall and CPU seconds, then stops the whole process group. */
async function startOnce(argv: string[], env: Record<string, string>): Promise<{ wallS: number; cpuS: number }> {
  const port = await freePort();
  const started = performance.now();
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port) },
    stdio: 'ignore',
    detached: true,
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok || (child.exitCode !== null && 'exited'), 120_000, argv.join(' '));
    if (child.exitCode !== null) throw new Error(`${argv.join(' ')} exited with ${child.exitCode}`);
    return { wallS: (performance.now() - started) / 1000, cpuS: treeCpuSeconds(child.pid!) };
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
    await exited;
  }
}

/** RSS once two readings a second apart differ by less than 2 MiB (at most 15 s). */
async function settledRss(pid: number): Promise<number> {
  let last = rssMiB(pid);
  for (let i = 0; i < 15; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = rssMiB(pid);
    if (Math.abs(now - last) < 2) return now;
    last = now;
  }
  return last;
}

export const scenario: Scenario = {
  id: ID,
  title: 'Embedded memory and start-up',
  async run() {
    ensureBuilt();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-embedded-'));
    try {
      // First start: a fresh data dir (the build's PGlite template is copied in).
      const t = performance.now();
      const api = await startApi({ FREE_CREDITS: '1000000' }, { dataDir });
      const firstStartS = (performance.now() - t) / 1000;
      const firstPeak = peakRssMiB(api.pid);
      const idle = await settledRss(api.pid);
      const { cookie } = await api.login();
      const form = uploadForm(await productShot(1200, 900), 'downscale');
      await load(`${api.base}/me`, { headers: { cookie }, connections: 10, durationS: 5 });
      await load(`${api.base}/upload`, {
        method: 'POST',
        headers: { cookie, ...form.headers, origin: api.base },
        body: form.payload,
        connections: 4,
        durationS: 5,
      });
      const afterLoad = await settledRss(api.pid);
      const loadPeak = peakRssMiB(api.pid);
      await api.stop();

      // Existing data dir: the commands against a bare Fastify process, interleaved.
      const env = { HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
      const node = process.execPath;
      const targets = [
        { label: '`node scripts/start.mjs api`', argv: [node, 'scripts/start.mjs', 'api'] },
        { label: '`npm start`', argv: ['npm', 'start', '--silent'] },
        { label: 'peer: bare Fastify (`node bench/peers/bare-server.mjs`)', argv: [node, 'bench/peers/bare-server.mjs'] },
      ];
      const samples = targets.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
      const loadBefore = os.loadavg()[0]!;
      for (let run = 0; run < RUNS; run++) {
        for (const [i, target] of targets.entries()) {
          const r = await startOnce(target.argv, env);
          samples[i]!.wall.push(r.wallS);
          samples[i]!.cpu.push(r.cpuS);
        }
      }
      const wall = samples.map((s) => median(s.wall));
      const cpu = samples.map((s) => median(s.cpu));
      const rows = targets.map((tg, i) => `| ${tg.label} | ${round(wall[i]!, 2)} | ${round(cpu[i]!, 2)} |`);
      return {
        figures: [
          figure(ID, 'idle RSS', { value: idle, unit: 'MiB', atMost: 250, note: 'after the first start, settled' }),
          figure(ID, 'first-start peak RSS', { value: firstPeak, unit: 'MiB', atMost: 400, note: 'fresh data dir, until the first /health 200' }),
          figure(ID, 'RSS after load', { value: afterLoad, unit: 'MiB', note: `10 s of reads and uploads; peak ${round(loadPeak)} MiB` }),
          figure(ID, 'first start to /health', { value: firstStartS, unit: 's', note: 'fresh data dir' }),
          figure(ID, 'start-up to /health', { value: wall[0]!, unit: 's', baseline: wall[2]!, atMost: 3, note: 'built tree, existing data dir, `node scripts/start.mjs api`' }),
          figure(ID, 'start-up CPU', { value: cpu[0]!, unit: 's', baseline: cpu[2]!, note: 'all threads, until the first /health 200' }),
        ],
        notes: [
          `Start-up, existing data dir, median of ${RUNS} interleaved runs (load average ${round(loadBefore)} before, ${round(os.loadavg()[0]!)} after):`,
          '',
          '| command | wall s | CPU s |',
          '|---|---:|---:|',
          ...rows,
          '',
          'A new embedded database is a copy of a PGlite cluster the build initialised and migrated',
          "(src/adapters/db/pglite-template.ts): PostgreSQL's initdb in WebAssembly grows the heap by about 550 MB,",
          'which WebAssembly never gives back, so an API that ran it kept that for its whole life.',
          'The idle figure does not include the remove-bg model: the bundled one is checked by its digest at start and',
          'loaded by the first remove-bg job (its worker thread and ONNX Runtime session, about 65 MiB, stay loaded after that).',
        ].join('\n'),
      };
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
};
