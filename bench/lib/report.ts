/**
 * The benchmark report's shape. Each scenario module (bench/scenarios/*.ts)
 * exports a `Scenario`; bench/run.ts runs them in order and writes
 * bench/report.json ({machine, scenarios: [figure...]}) and bench/REPORT.md
 * (one section per scenario, its figures as a table, then the scenario's own notes).
 */
import os from 'node:os';

export interface Figure {
  /** `<scenario id> · <what>`, unique in the report. */
  name: string;
  /** null when the figure could not be measured (the note says why). */
  value: number | null;
  unit: string;
  /** The peer's figure measured in the same run, when there is one. */
  baseline: number | null;
  /** value ÷ baseline. */
  ratio: number | null;
  /** In words, e.g. "ratio ≥ 0.8" or "≤ 250 MiB"; null when the figure is informational. */
  target: string | null;
  /** null when there is no target or no value. */
  pass: boolean | null;
  note: string;
}

export interface SectionResult {
  figures: Figure[];
  /** Markdown after the table: set-up, method, and the reason for a missed target. */
  notes: string;
}

export interface Scenario {
  /** Short and stable (`auth-reads`): `BENCH_ONLY=auth-reads,limiter npm run bench` runs just those. */
  id: string;
  title: string;
  run(): Promise<SectionResult>;
}

export interface FigureInput {
  value: number | null;
  unit: string;
  baseline?: number | null;
  /** What the target bounds: the value (default) or the ratio to the baseline. */
  on?: 'value' | 'ratio';
  atLeast?: number;
  atMost?: number;
  note?: string;
}

/** A figure with its ratio and pass/fail computed from the bounds. */
export function figure(scenario: string, what: string, input: FigureInput): Figure {
  const baseline = input.baseline ?? null;
  const ratio = input.value !== null && baseline ? round(input.value / baseline, 3) : null;
  const bounded = input.on === 'ratio' ? ratio : input.value;
  const unit = input.on === 'ratio' ? '×' : ` ${input.unit}`;
  const bounds =
    input.atLeast !== undefined && input.atLeast === input.atMost
      ? [`exactly ${input.atLeast}${unit}`]
      : [input.atLeast !== undefined ? `≥ ${input.atLeast}${unit}` : null, input.atMost !== undefined ? `≤ ${input.atMost}${unit}` : null].filter(Boolean);
  const target = bounds.length ? `${input.on === 'ratio' ? 'ratio ' : ''}${bounds.join(' and ')}` : null;
  const pass =
    target === null || bounded === null
      ? null
      : (input.atLeast === undefined || bounded >= input.atLeast) && (input.atMost === undefined || bounded <= input.atMost);
  return {
    name: `${scenario} · ${what}`,
    value: input.value === null ? null : round(input.value, 3),
    unit: input.unit,
    baseline: baseline === null ? null : round(baseline, 3),
    ratio,
    target,
    pass,
    note: input.note ?? '',
  };
}

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  date: string;
}

export function machine(): Machine {
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model.trim() ?? 'cpu',
    memoryGiB: round(os.totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
  };
}
