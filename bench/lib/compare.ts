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

/**
 * A /metrics counter's increase per request over `n` sequential requests (each must answer 2xx),
 * less what reading /metrics itself adds to it.
 */
export async function counterPerRequest(base: string, counter: string, n: number, url: string, headers: Record<string, string>): Promise<number> {
  const before = await metric(base, counter);
  const start = await metric(base, counter);
  const ownCost = start - before;
  for (let i = 0; i < n; i++) {
    const res = await fetch(url, { headers });
    if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  }
  return ((await metric(base, counter)) - start - ownCost) / n;
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

/** Drops a failed scenario's processes in reverse order of start, ignoring those already gone. */
export async function stopAll(stoppers: Array<() => Promise<unknown>>): Promise<void> {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
}
