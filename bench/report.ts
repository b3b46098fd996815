/** Shared helpers for benchmarks: tables, report files, argument parsing. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const reportsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'reports');

export type Cell = string | number | boolean | null;

/** A plain-text table with right-aligned numbers. */
export function formatTable(columns: readonly string[], rows: readonly Cell[][]): string {
  const text = rows.map((r) => r.map((c) => (c === null ? '-' : String(c))));
  const widths = columns.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (typeof rows[0]?.[i] === 'number' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ');
  return [line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...text.map(line)].join('\n');
}

/** The same table as Markdown. */
export function markdownTable(columns: readonly string[], rows: readonly Cell[][]): string {
  const esc = (c: Cell) => (c === null ? '-' : String(c).replace(/\|/g, '\\|'));
  return [
    `| ${columns.join(' | ')} |`,
    `|${columns.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function writeReport(name: string, json: unknown, markdown: string): void {
  mkdirSync(reportsDir, { recursive: true });
  writeFileSync(join(reportsDir, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(reportsDir, `${name}.md`), markdown.endsWith('\n') ? markdown : `${markdown}\n`);
}

export function hasFlag(args: readonly string[], flag: string): boolean {
  return args.includes(flag);
}

/** `--repeat N` (1..max, default 1): how many runs a benchmark takes in turn. */
export function repeatOption(args: readonly string[], max: number): number {
  const at = args.indexOf('--repeat');
  const text = at < 0 ? '1' : (args[at + 1] ?? '');
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new Error(`--repeat: a whole number 1..${max}, got ${text || 'nothing'}`);
  return n;
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function fmt(x: number, digits = 2): number {
  return Number(x.toFixed(digits));
}

// ---------------------------------------------------------------------------------------------
// The common shape of a benchmark's outcome, for `pnpm bench [all] [--quick]` (bench/run.ts) and
// reports/bench.{md,json}. Each benchmark keeps its own report; an adapter in bench/adapters/
// reads the JSON the benchmark printed and states its targets in this shape.

/** pass: target met; miss: measured and missed; n/a: could not be measured in this run. */
export type Verdict = 'pass' | 'miss' | 'n/a';

export interface TargetResult {
  /** What is measured, e.g. "fold of verified ops". */
  readonly measure: string;
  /** The target as text, e.g. ">= 100000 ops/s". */
  readonly target: string;
  readonly measured: Cell;
  readonly verdict: Verdict;
}

export interface BenchSummary {
  readonly targets: readonly TargetResult[];
  /** One-line facts worth reading next to the targets (sizes, tools missing, ...). */
  readonly notes: readonly string[];
}

export interface BenchOutcome extends BenchSummary {
  readonly name: string;
  readonly title: string;
  readonly command: string;
  readonly quick: boolean;
  readonly wallSeconds: number;
  /** Set when the benchmark crashed, timed out or printed no JSON (then targets is empty). */
  readonly error: string | null;
}

/** How bench/run.ts runs one benchmark in the suite and reads its result. */
export interface BenchAdapter {
  readonly title: string;
  /** Arguments for `--quick` (a size that fits the few-minute CI budget) and for the full run. */
  readonly quickArgs: readonly string[];
  readonly fullArgs: readonly string[];
  /** The benchmark's `--json` output -> targets; throws a plain Error if the shape is wrong. */
  summarize(json: unknown, quick: boolean): BenchSummary;
}

function round(x: number): number {
  if (!Number.isFinite(x)) return x;
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 1 ? 2 : 3;
  return Number(x.toFixed(digits));
}

/** A `measured >= min` target; a missing measurement is n/a. */
export function atLeast(
  measure: string,
  measured: number | null | undefined,
  min: number,
  unit = '',
): TargetResult {
  const target = `>= ${min}${unit ? ` ${unit}` : ''}`;
  if (measured === null || measured === undefined || !Number.isFinite(measured))
    return { measure, target, measured: null, verdict: 'n/a' };
  return { measure, target, measured: round(measured), verdict: measured >= min ? 'pass' : 'miss' };
}

/** A `measured <= max` target; a missing measurement is n/a. */
export function atMost(
  measure: string,
  measured: number | null | undefined,
  max: number,
  unit = '',
): TargetResult {
  const target = `<= ${max}${unit ? ` ${unit}` : ''}`;
  if (measured === null || measured === undefined || !Number.isFinite(measured))
    return { measure, target, measured: null, verdict: 'n/a' };
  return { measure, target, measured: round(measured), verdict: measured <= max ? 'pass' : 'miss' };
}

/** Reads a nested number from an untyped JSON value; null when absent or not a number. */
export function numberAt(json: unknown, ...path: (string | number)[]): number | null {
  let v: unknown = json;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return null;
    v = (v as Record<string | number, unknown>)[key];
  }
  return typeof v === 'number' ? v : null;
}

/** Reads a nested array of objects; throws when it is not one (the adapter's shape check). */
export function recordsAt(json: unknown, key: string): Record<string, unknown>[] {
  const v = json !== null && typeof json === 'object' ? (json as Record<string, unknown>)[key] : undefined;
  if (!Array.isArray(v) || v.some((x) => x === null || typeof x !== 'object'))
    throw new Error(`expected an array of objects at "${key}"`);
  return v as Record<string, unknown>[];
}
