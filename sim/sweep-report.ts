/** What `pnpm sim --sweep` prints (one row per agreement, one per member) and its HTML report. */
import type { SweepResult, SweepRow } from './sweep.ts';
import { formatBytes } from './units.ts';

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)]
    .map((l) => l.trimEnd())
    .join('\n');
}

const chance = (x: number | null) => (x === null ? 'n/a' : x === 0 ? '0' : x.toExponential(1));
const days = (d: number | null) => (d === null ? 'never' : `${d.toFixed(1)} d`);

function agreementRow(r: SweepRow): string[] {
  const name = `${r.ratio} / ${r.tolerance}`;
  if (!r.feasible) return [name, 'infeasible', '', '', '', '', ''];
  return [
    name,
    `${r.k}+${r.m}`,
    formatBytes(r.totalAllowanceBytes),
    formatBytes(r.unusablePledgeBytes),
    days(r.firstFullBackupDaysMax),
    r.repairWindowDays === null ? 'n/a' : `${r.repairWindowDays.toFixed(2)} d`,
    chance(r.memberAnnualLossChance),
  ];
}

/** Allowance / unusable pledge / first full backup of every member, one column per agreement. */
function memberTable(s: SweepResult): string {
  const feasible = s.rows.filter((r) => r.feasible);
  if (feasible.length === 0) return '';
  const ids = feasible[0]!.members.map((m) => m.id);
  const rows = ids.map((id, i) => [
    `${id} ${formatBytes(feasible[0]!.members[i]!.pledgeBytes)}`,
    ...feasible.map((r) => {
      const m = r.members[i]!;
      const first =
        m.firstFullBackupDays === null
          ? `never (${(Math.floor(m.backedUpFraction * 1000) / 10).toFixed(1)} %)`
          : days(m.firstFullBackupDays);
      return `${formatBytes(m.allowanceBytes)} / ${formatBytes(m.unusablePledgeBytes)} / ${first}`;
    }),
  ]);
  return table(['member pledge', ...feasible.map((r) => `${r.ratio} / ${r.tolerance}`)], rows);
}

export function formatSweep(s: SweepResult): string {
  const rec = s.recommendation;
  return [
    `pb sim --sweep: ${s.members} members, ${s.days} days per run, seed ${s.seed}, afr ${s.afr}`,
    '',
    table(
      [
        'ratio / tol',
        'code',
        'allowance, all',
        'unusable pledge',
        'first full, slowest',
        'window',
        'loss / member-yr',
      ],
      s.rows.map(agreementRow),
    ),
    ...s.rows.filter((r) => !r.feasible).map((r) => `  ${r.ratio} / ${r.tolerance}: ${r.reason}`),
    '',
    'per member: allowance / unusable pledge / days to first full backup (never: not within the run;',
    'in brackets the share of its allowance backed up at the end)',
    memberTable(s),
    '',
    `loss / member-yr: chance per year that a member loses any of its backup (closed form with the`,
    `repair window measured in the run); unusable pledge: pledge left unused when every member backs`,
    `up its allowance.`,
    '',
    `recommended: ${rec.reason}`,
  ].join('\n');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}

/** A log-scale bar per agreement (chance a member loses anything per year) and the target line. */
function chanceChart(s: SweepResult): string {
  const rows = s.rows.filter((r) => r.memberAnnualLossChance !== null && r.memberAnnualLossChance > 0);
  const width = 960;
  const height = 320;
  const left = 70;
  const bottom = 40;
  const values = [...rows.map((r) => r.memberAnnualLossChance!), s.targetChance];
  const lo = Math.floor(Math.log10(Math.min(...values))) - 1;
  const hi = Math.max(0, Math.ceil(Math.log10(Math.max(...values))));
  const y = (v: number) => 10 + ((hi - Math.log10(v)) / (hi - lo)) * (height - bottom - 10);
  const band = (width - left - 20) / Math.max(1, rows.length);
  const bars = rows.map((r, i) => {
    const x = left + i * band + band * 0.15;
    const top = y(r.memberAnnualLossChance!);
    const fill = r.memberAnnualLossChance! <= s.targetChance ? '#4e9a06' : '#c4a000';
    return (
      `<rect class="bar" x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(band * 0.7).toFixed(1)}" ` +
      `height="${(height - bottom - top).toFixed(1)}" fill="${fill}"><title>${chance(r.memberAnnualLossChance)}</title></rect>` +
      `<text x="${(x + band * 0.35).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle">${r.ratio} / ${r.tolerance}</text>`
    );
  });
  const ticks: string[] = [];
  for (let e = lo; e <= hi; e++)
    ticks.push(`<text x="${left - 6}" y="${(y(10 ** e) + 4).toFixed(1)}" text-anchor="end">1e${e}</text>`);
  const target = y(s.targetChance).toFixed(1);
  return (
    `<svg id="chart-sweep" width="${width}" height="${height}" font-size="11">${ticks.join('')}${bars.join('')}` +
    `<line x1="${left}" x2="${width - 20}" y1="${target}" y2="${target}" stroke="#a40000" stroke-dasharray="4 3"/>` +
    `<text x="${width - 20}" y="${Number(target) - 4}" text-anchor="end">target ${chance(s.targetChance)}</text>` +
    `<text x="${left}" y="${height - 4}">ratio / tolerance</text></svg>`
  );
}

export function renderSweepHtml(s: SweepResult): string {
  const data = JSON.stringify(s).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>pb sim sweep: ${s.members} members, seed ${escapeHtml(s.seed)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
</style>
</head>
<body>
<h1>pb sim --sweep: ${s.members} members, ${s.rows.length} agreements</h1>
<p><strong>Recommended:</strong> ${escapeHtml(s.recommendation.reason)}</p>
<pre>${escapeHtml(formatSweep(s))}</pre>
<h2>Chance per year that a member loses any of its backup</h2>
${chanceChart(s)}
<script id="sweep-data" type="application/json">${data}</script>
</body>
</html>
`;
}
