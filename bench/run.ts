/**
 * `npm run bench`: every scenario of the performance report, each against its
 * peer in the same run (the machine is shared and noisy: compare ratios, not
 * absolute numbers). Writes bench/report.json and bench/REPORT.md.
 * `BENCH_ONLY=auth-reads,limiter npm run bench` runs those scenarios and
 * replaces only their figures and sections in the existing report.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { type Figure, machine, type Machine, round, type Scenario } from './lib/report.js';
import { scenario as authReads } from './scenarios/auth-reads.js';
import { scenario as catalogue } from './scenarios/catalogue.js';
import { scenario as dashboard } from './scenarios/dashboard.js';
import { scenario as imagesListing } from './scenarios/images-listing.js';
import { scenario as limiter } from './scenarios/limiter.js';
import { scenario as pipelineOverhead } from './scenarios/pipeline-overhead.js';
import { scenario as processing } from './scenarios/processing.js';
import { scenario as remoteJobs } from './scenarios/remote-jobs.js';
import { scenario as removeBg } from './scenarios/remove-bg.js';
import { scenario as uploads } from './scenarios/uploads.js';
import { scenario as embeddedMemory } from './scenarios/embedded-memory.js';

const SCENARIOS: Scenario[] = [
  authReads,
  limiter,
  uploads,
  pipelineOverhead,
  processing,
  remoteJobs,
  imagesListing,
  embeddedMemory,
  removeBg,
  catalogue,
  dashboard,
];

const JSON_PATH = new URL('./report.json', import.meta.url);
const MD_PATH = new URL('./REPORT.md', import.meta.url);

interface Report {
  /** loadAverage: the 1-minute load average when the run started and ended (the machine is shared). */
  machine: Machine & { loadAverage?: [number, number] };
  scenarios: Figure[];
}

const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
const unknown = only?.filter((id) => !SCENARIOS.some((s) => s.id === id)) ?? [];
if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.id).join(', ')}`);
const selected = only ? SCENARIOS.filter((s) => only.includes(s.id)) : SCENARIOS;

// A partial run keeps the other scenarios' figures and sections.
const previous: Report | null = only && existsSync(JSON_PATH) ? (JSON.parse(readFileSync(JSON_PATH, 'utf8')) as Report) : null;
const sections = new Map<string, string>();
if (only && existsSync(MD_PATH)) {
  for (const m of readFileSync(MD_PATH, 'utf8').matchAll(/<!-- scenario:([\w-]+) -->\n([\s\S]*?)<!-- \/scenario:\1 -->/g)) sections.set(m[1]!, m[2]!);
}
const figures = new Map<string, Figure[]>();
for (const s of SCENARIOS) figures.set(s.id, previous?.scenarios.filter((f) => f.name.startsWith(`${s.id} · `)) ?? []);

const started = performance.now();
const loadBefore = round(os.loadavg()[0]!);
const durations: string[] = [];
for (const s of selected) {
  const t = performance.now();
  process.stdout.write(`== ${s.id}: ${s.title}\n`);
  let notes: string;
  try {
    const result = await s.run();
    figures.set(s.id, result.figures);
    notes = result.notes;
  } catch (err) {
    // One broken scenario must not lose the others' figures: it is reported as not measured.
    process.stderr.write(`${s.id} failed: ${(err as Error).stack}\n`);
    figures.set(s.id, []);
    notes = `**Not measured: the scenario failed** (${(err as Error).message.split('\n')[0]}).`;
  }
  const seconds = (performance.now() - t) / 1000;
  durations.push(`${s.id} ${seconds.toFixed(0)} s`);
  sections.set(s.id, sectionMarkdown(s, figures.get(s.id)!, notes, seconds));
  process.stdout.write(`   ${seconds.toFixed(0)} s\n`);
}

const report: Report = { machine: { ...machine(), loadAverage: [loadBefore, round(os.loadavg()[0]!)] }, scenarios: SCENARIOS.flatMap((s) => figures.get(s.id)!) };
writeFileSync(JSON_PATH, `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(MD_PATH, reportMarkdown(report));
process.stdout.write(`bench: ${((performance.now() - started) / 1000).toFixed(0)} s (${durations.join(', ')})\n`);

function cell(n: number | null, unit = ''): string {
  if (n === null) return '–';
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2;
  return `${n.toFixed(digits)}${unit}`;
}

function passCell(f: Figure): string {
  return f.pass === null ? (f.target ? 'not measured' : '') : f.pass ? 'yes' : '**no**';
}

function table(rows: Figure[]): string {
  return [
    '| figure | value | peer | ratio | target | pass |',
    '|---|---:|---:|---:|---|---|',
    ...rows.map(
      (f) =>
        `| ${f.name.split(' · ').slice(1).join(' · ')}${f.note ? ` (${f.note})` : ''} | ${cell(f.value, ` ${f.unit}`)} | ${cell(f.baseline, ` ${f.unit}`)} | ${cell(f.ratio)} | ${f.target ?? ''} | ${passCell(f)} |`,
    ),
  ].join('\n');
}

function sectionMarkdown(s: Scenario, rows: Figure[], notes: string, seconds: number): string {
  return `## ${s.title}\n\n${rows.length ? `${table(rows)}\n\n` : ''}${notes.trim()}\n\n_Measured in ${seconds.toFixed(0)} s._\n\n`;
}

function reportMarkdown(r: Report): string {
  const m = r.machine;
  const targets = r.scenarios.filter((f) => f.target);
  const missed = targets.filter((f) => f.pass === false);
  const summary = SCENARIOS.map((s) => {
    const own = targets.filter((f) => f.name.startsWith(`${s.id} · `));
    const failed = own.filter((f) => f.pass === false).length;
    const unmeasured = own.filter((f) => f.pass === null).length;
    return `| ${s.title} | ${own.length - failed - unmeasured} of ${own.length} | ${failed ? `**${failed}**` : '0'}${unmeasured ? ` (+${unmeasured} not measured)` : ''} |`;
  });
  const body = SCENARIOS.map((s) => `<!-- scenario:${s.id} -->\n${sections.get(s.id) ?? `## ${s.title}\n\nNot run yet.\n\n`}<!-- /scenario:${s.id} -->`);
  return [
    '# Benchmark report',
    '',
    `Written by \`npm run bench\` (${only ? `this update: ${only.join(', ')}; ` : ''}${m.date}) on ${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, Node ${m.node}${m.loadAverage ? `, load average ${m.loadAverage[0]} at the start and ${m.loadAverage[1]} at the end` : ''}.`,
    'The machine is shared and noisy: each figure is compared with a peer measured in the same run, and the ratio is what',
    'counts. The same figures are in `bench/report.json`.',
    '',
    '| scenario | targets met | missed |',
    '|---|---:|---:|',
    ...summary,
    '',
    missed.length ? `Missed: ${missed.map((f) => f.name).join('; ')}. Each section says why, measured.` : 'Every measured target is met.',
    '',
    ...body,
    '',
  ].join('\n');
}
