/**
 * Side-by-side measurement helpers for scenarios that compare our API with a peer
 * (or one configuration with another) on this shared, noisy machine.
 */
import { readFileSync } from 'node:fs';
import { type Load, type LoadOptions, load, metric } from './servers.js';

export interface Pair {
  ours: Load;
  peer: Load;
}

/** The mean of each load figure over several runs. */
function meanOf(runs: Load[]): Load {
  const mean = (pick: (l: Load) => number) => runs.reduce((s, l) => s + pick(l), 0) / runs.length;
  return {
    rps: mean((l) => l.rps),
    p50: mean((l) => l.p50),
    p99: mean((l) => l.p99),
    errors: mean((l) => l.errors),
    non2xx: mean((l) => l.non2xx),
    requests: mean((l) => l.requests),
  };
}

/**
 * A short warm-up of each, then `rounds` ABBA rounds (ours, peer, peer, ours) so that
 * a drift of the machine's load hits both sides alike; each side's mean.
 */
export async function alternate(oursUrl: string, peerUrl: string, opts: LoadOptions & { rounds?: number; warmupS?: number } = {}): Promise<Pair> {
  const { rounds = 1, warmupS = 1, ...loadOpts } = opts;
  await load(oursUrl, { ...loadOpts, durationS: warmupS });
  await load(peerUrl, { ...loadOpts, durationS: warmupS });
  const ours: Load[] = [];
  const peer: Load[] = [];
  for (let i = 0; i < rounds; i++) {
    ours.push(await load(oursUrl, loadOpts));
    peer.push(await load(peerUrl, loadOpts));
    peer.push(await load(peerUrl, loadOpts));
    ours.push(await load(oursUrl, loadOpts));
  }
  return { ours: meanOf(ours), peer: meanOf(peer) };
}

/** A /metrics counter's increase per millisecond while nothing is asked of the process (pollers, timers). */
export async function backgroundRate(base: string, counter: string, idleMs: number): Promise<number> {
  const before = await metric(base, counter);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, idleMs));
  const after = await metric(base, counter);
  return Math.max(0, after - before) / (performance.now() - started);
}

/**
 * A /metrics counter's increase per request over `n` sequential requests (each must answer 2xx),
 * less what reading /metrics itself adds and the process's background rate (`perMs`, from backgroundRate).
 */
export async function counterPerRequest(
  base: string,
  counter: string,
  opts: { n: number; url: string; headers: Record<string, string>; perMs?: number },
): Promise<number> {
  const before = await metric(base, counter);
  const start = await metric(base, counter);
  const ownCost = start - before;
  const started = performance.now();
  for (let i = 0; i < opts.n; i++) {
    const res = await fetch(opts.url, { headers: opts.headers });
    if (!res.ok) throw new Error(`${opts.url}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  }
  const background = (opts.perMs ?? 0) * (performance.now() - started);
  return ((await metric(base, counter)) - start - ownCost - background) / opts.n;
}

/** The V8 and Node flags a running process was started with (what start.mjs gave our API). */
export function nodeFlagsOf(pid: number): string[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const flags: string[] = [];
  for (const arg of argv.slice(1)) {
    if (!arg.startsWith('--')) break;
    flags.push(arg);
  }
  return flags;
}

/**
 * CPU time (user + system) a process has used so far, in ms (/proc/<pid>/stat, clock ticks of 10 ms);
 * with `waitedChildren`, also that of its children it has waited for (cutime + cstime).
 */
export function cpuMs(pid: number, opts: { waitedChildren?: boolean } = {}): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = fields.slice(11, opts.waitedChildren ? 15 : 13).reduce((sum, f) => sum + Number(f), 0);
  return ticks * 10;
}

/**
 * CPU ms per request of each process during one load of `url`: on a shared machine the
 * work a request costs moves far less than the throughput it reaches.
 */
export async function cpuPerRequest(url: string, pids: number[], opts: LoadOptions): Promise<number[]> {
  const before = pids.map((pid) => cpuMs(pid));
  const { requests } = await load(url, opts);
  return pids.map((pid, i) => (cpuMs(pid) - before[i]!) / requests);
}

/** The error, with the output of any of `procs` that has exited (a crash shows up as ECONNREFUSED otherwise). */
export function withExitedOutput(err: unknown, procs: Array<{ child: { exitCode: number | null; signalCode: string | null }; output(): string }>): Error {
  const exited = procs.filter((p) => p.child.exitCode !== null || p.child.signalCode !== null);
  if (!exited.length) return err as Error;
  const detail = exited.map((p) => `exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.output()}`).join('\n');
  return new Error(`${(err as Error).message}\n${detail}`, { cause: err });
}

/** Drops a failed scenario's processes in reverse order of start, ignoring those already gone. */
export async function stopAll(stoppers: Array<() => Promise<unknown>>): Promise<void> {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
}
