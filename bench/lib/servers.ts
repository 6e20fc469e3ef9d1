/**
 * Processes the scenarios measure: the API from the built tree (started the way
 * `npm start` starts it: scripts/start.mjs, with its lean-memory V8 flags unless
 * LEAN_MEMORY=false), peers from bench/peers, and autocannon load against them.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { freePort, waitFor } from '../../test/helpers/process.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
export const BENCH_SECRET = 'bench-jwt-secret-0123456789abcdef0123456789';

let built = false;
/** Builds dist/ once per run when it is stale (the same check `npm start` makes). */
export function ensureBuilt(): void {
  if (built) return;
  const r = spawnSync(process.execPath, ['scripts/start.mjs', '--build-only'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('build failed');
  built = true;
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  output: () => string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function track(child: ChildProcess, cleanup: () => void = () => {}): Proc {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      cleanup();
    },
  };
}

const baseEnv = () => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' });

export interface Api extends Proc {
  port: number;
  base: string;
  dataDir: string;
  /** A dev-login session for `shop` (local mode only). */
  login(shop?: string): Promise<{ token: string; cookie: string }>;
}

/**
 * The API (role `api` or `worker` through scripts/start.mjs) with limits raised so the
 * load is never refused (the limiter's cost is still paid). Embedded defaults unless
 * `env` configures otherwise; its own fresh DATA_DIR unless given one.
 */
export async function startApi(env: Record<string, string> = {}, opts: { dataDir?: string; role?: 'api' | 'worker'; keepDataDir?: boolean } = {}): Promise<Api> {
  ensureBuilt();
  const port = await freePort();
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const child = spawn(process.execPath, ['scripts/start.mjs', opts.role ?? 'api'], {
    cwd: ROOT,
    env: {
      ...baseEnv(),
      PORT: String(port),
      WORKER_PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      JWT_SECRET: BENCH_SECRET,
      RL_BURST_LIMIT: '1000000',
      RL_SUST_LIMIT: '1000000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = track(child, () => {
    if (!opts.dataDir && !opts.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  const health = opts.role === 'worker' ? '/ready' : '/health';
  try {
    await waitFor(async () => (await fetch(`${base}${health}`)).ok || (child.exitCode !== null && 'exited'), 180_000, `the ${opts.role ?? 'api'}`);
  } catch (err) {
    await proc.stop();
    throw new Error(`${(err as Error).message}\n${proc.output()}`, { cause: err });
  }
  if (child.exitCode !== null) throw new Error(`the ${opts.role ?? 'api'} exited\n${proc.output()}`);
  return {
    ...proc,
    port,
    base,
    dataDir,
    async login(shop = 'bench.myshopify.com') {
      const res = await fetch(`${base}/auth/dev-login?shop=${shop}`);
      const { token } = (await res.json()) as { token: string };
      return { token, cookie: `session=${token}` };
    },
  };
}

/** A TypeScript file run with tsx (a peer server, or a helper process), answering GET /health when up. */
export async function startTs(file: string, env: Record<string, string> = {}, nodeFlags: string[] = []): Promise<Proc & { port: number; base: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeFlags, '--import', TSX_LOADER, path.resolve(ROOT, file)], {
    cwd: ROOT,
    env: { ...baseEnv(), PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = track(child);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/health`)).ok || (child.exitCode !== null && 'exited'), 120_000, file);
  if (child.exitCode !== null) throw new Error(`${file} exited\n${proc.output()}`);
  return { ...proc, port, base };
}

/** A memory line of /proc/<pid>/status, in MiB. */
function statusMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
}

/** Resident memory of a process in MiB. */
export const rssMiB = (pid: number) => statusMiB(pid, 'VmRSS');

/** Peak resident memory (VmHWM) of a process in MiB. */
export const peakRssMiB = (pid: number) => statusMiB(pid, 'VmHWM');

export interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  requests: number;
}

export interface LoadOptions {
  connections?: number;
  durationS?: number;
  headers?: Record<string, string>;
  method?: 'GET' | 'POST';
  body?: Buffer | string;
}

export const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);

export async function load(url: string, opts: LoadOptions = {}): Promise<Load> {
  const r = await autocannon({
    url,
    connections: opts.connections ?? 20,
    duration: opts.durationS ?? DURATION_S,
    headers: opts.headers ?? {},
    method: opts.method ?? 'GET',
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx, requests: r.requests.total };
}

/** A counter's value from a Prometheus text page (summed over label sets matching `labels`). */
export async function metric(base: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').includes(labels)) sum += Number(m[3]);
  }
  return sum;
}
