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

export function fmt(x: number, digits = 2): number {
  return Number(x.toFixed(digits));
}
