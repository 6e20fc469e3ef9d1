/**
 * Start-up of a built tree to its first `/health` 200, with an existing data
 * dir (embedded mode: PGlite already created and migrated), the production
 * commands against `npm start` and the development path (tsx, from source).
 * Wall time depends on what else the shared machine runs; the CPU time the
 * process used until that answer depends much less, so both are reported.
 * `npx tsx bench/startup.ts` runs it alone; `npm run bench` includes it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/helpers/process.js';

export interface StartupResult {
  label: string;
  command: string;
  wallS: number;
  cpuS: number;
  runs: number;
  /** The machine's 1-minute load average before and after the runs. */
  load: [number, number];
}

const CLOCK_TICKS = 100; // USER_HZ on Linux
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU seconds (user + system) used by a process and its waited-for children so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // After the command name: utime, stime, cutime, cstime are fields 12..15 (0-based 11..14).
  return fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0) / CLOCK_TICKS;
}

/** All descendants' CPU (npm start runs node under npm under sh). */
function treeCpuSeconds(pid: number): number {
  let total = cpuSeconds(pid);
  const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const child of children) total += treeCpuSeconds(Number(child));
  return total;
}

async function once(argv: string[], env: Record<string, string>): Promise<{ wallS: number; cpuS: number }> {
  const port = await freePort();
  const started = process.hrtime.bigint();
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port) },
    stdio: 'ignore',
    detached: true, // its own process group, so the whole tree stops together
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
      if (ok) break;
      if (child.exitCode !== null) throw new Error(`${argv.join(' ')} exited with ${child.exitCode}`);
      if (Number(process.hrtime.bigint() - started) > 120e9) throw new Error(`${argv.join(' ')}: no /health in 120 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const wallS = Number(process.hrtime.bigint() - started) / 1e9;
    return { wallS, cpuS: treeCpuSeconds(child.pid!) };
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
    await exited;
  }
}

export async function startupBench(runs = Number(process.env.BENCH_STARTUP_RUNS ?? 5)): Promise<StartupResult[]> {
  const built = spawnSync(process.execPath, ['scripts/start.mjs', '--build-only'], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error('the build failed');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-startup-'));
  const env = { HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  const node = process.execPath;
  const targets = [
    { label: 'built tree (`node dist/main/api.js`, the image\'s command)', argv: [node, 'dist/main/api.js'] },
    { label: '`node scripts/start.mjs api` (build check, then the built tree)', argv: [node, 'scripts/start.mjs', 'api'] },
    { label: '`npm start` (npm, the build check, the built tree)', argv: ['npm', 'start', '--silent'] },
    { label: 'from source (`node --import tsx src/main/api.ts`, development)', argv: [node, '--import', 'tsx', 'src/main/api.ts'] },
  ];
  const loadBefore = os.loadavg()[0]!;
  try {
    await once(targets[0]!.argv, env); // creates and migrates the data dir: later starts find it
    const samples = targets.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
    // Interleaved, so that the machine's load drifts over every target alike.
    for (let run = 0; run < runs; run++) {
      for (const [i, target] of targets.entries()) {
        const { wallS, cpuS } = await once(target.argv, env);
        samples[i]!.wall.push(wallS);
        samples[i]!.cpu.push(cpuS);
      }
    }
    const load: [number, number] = [loadBefore, os.loadavg()[0]!];
    return targets.map((t, i) => ({
      label: t.label,
      command: t.argv.join(' '),
      wallS: median(samples[i]!.wall),
      cpuS: median(samples[i]!.cpu),
      runs,
      load,
    }));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** CPU seconds a fresh process spends importing the app's modules (nothing else). */
export function importCpuSeconds(): number {
  const script =
    "const t = process.cpuUsage(); await import('./dist/container.js'); await import('./dist/http/app.js');" +
    'const c = process.cpuUsage(t); process.stdout.write(String((c.user + c.system) / 1e6));';
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return Number(out.stdout);
}

export function startupReport(results: StartupResult[], importsCpuS = importCpuSeconds()): string {
  const rows = results.map((r) => `| ${r.label} | ${r.wallS.toFixed(2)} | ${r.cpuS.toFixed(2)} |`).join('\n');
  const built = results[0]!;
  const source = results.at(-1)!;
  return `## Start-up to the first \`/health\` 200 (existing data dir, median of ${built.runs} runs, interleaved)

Embedded mode (PGlite). Load average of the ${os.cpus().length}-core machine during the runs: ${built.load[0].toFixed(1)} at the start, ${built.load[1].toFixed(1)} at the end.

| command | wall s | CPU s |
|---|---:|---:|
${rows}

- Target: under 3 s for the built tree with an existing data dir. Wall time here: **${built.wallS.toFixed(2)} s**;
  CPU used until the answer (all threads): ${built.cpuS.toFixed(2)} s, which bounds what an idle machine could do
  only roughly (start-up is CPU-bound, but some of that CPU runs in parallel threads).
- From source ÷ built tree: **${(source.cpuS / built.cpuS).toFixed(2)}×** the CPU (tsx compiles every module at start).
- Importing the app's modules alone costs ${importsCpuS.toFixed(2)} s of CPU (${((importsCpuS / built.cpuS) * 100).toFixed(0)}% of the built tree's
  start); the rest is mostly opening PGlite and compiling the route schemas.
`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await startupBench();
  process.stdout.write(startupReport(results));
}
